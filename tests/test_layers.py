"""Imports only go down (docs/architecture.md): tools, the packages beside them
(``tools/<package>/``), the tool layer (``ssd_plugin/apis``), the library,
``ssd_plugin/utils``; no tool imports another tool; ``ssd_plugin`` imports none
of the packages beside the tools; nothing edits ``sys.path`` or ``PYTHONPATH``."""

import ast
from pathlib import Path
from typing import Iterator, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ('models', 'datasets', 'engine', 'evaluation', 'fileio', 'deploy', 'registry')
# The packages beside the tools, dotted from tools/ (synthetic_data, ssd_demo, benchmarks,
# analysis_tools.default_box_analysis): the scripts import them from their own folder, the
# first on sys.path (tools/analysis_tools/default_boxes.py: default_box_analysis), and the
# tests and the scripts of tools/ through tools/ (analysis_tools.default_box_analysis).
BESIDE_TOOLS = tuple(
    sorted(
        '.'.join(p.parent.relative_to(ROOT / 'tools').parts)
        for p in (ROOT / 'tools').rglob('__init__.py')
        if not (p.parent.parent / '__init__.py').is_file()
    )
)


def _beside_tools(name: str) -> Optional[str]:
    """``tools.<package>...`` of a module of a package beside the tools, imported as ``name``
    from tools/ or from the package's own folder; None for any other module."""
    for package in BESIDE_TOOLS:
        for alias in (package, package.rsplit('.', 1)[-1]):
            if name == alias or name.startswith(f'{alias}.'):
                return f'tools.{package}{name[len(alias) :]}'
    return None


def _imports(path: Path) -> Iterator[Tuple[int, str, bool]]:
    """``(line, absolute module name, relative)`` of every import in ``path``, those in
    functions too; ``from pkg import name`` gives ``pkg`` and ``pkg.name``."""
    package = '.'.join(path.relative_to(ROOT).with_suffix('').parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name, False) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
            name = node.module if not node.level else '.'.join(filter(None, (base, node.module)))
            yield node.lineno, name, bool(node.level)
            yield from ((node.lineno, f'{name}.{a.name}', bool(node.level)) for a in node.names)


def _sources(*folders: str):
    return [p for folder in folders for p in sorted((ROOT / folder).rglob('*.py'))]


UPWARD = {  # folder: the modules above it
    'ssd_plugin/utils': tuple(f'ssd_plugin.{p}' for p in (*LIBRARY, 'apis', 'setup_env')),
    **{f'ssd_plugin/{p}': ('ssd_plugin.apis',) for p in LIBRARY if p != 'registry'},
}


@pytest.mark.parametrize('folder', sorted(UPWARD))
def test_imports_only_go_down(folder):
    upward = [
        f'{path.relative_to(ROOT)}:{line}: {name}'
        for path in _sources(folder)
        for line, name, _ in _imports(path)
        if name == 'ssd_plugin' or name.startswith(UPWARD[folder])
    ]
    assert upward == []


def _in_package_beside_tools(path: Path) -> bool:
    return _beside_tools('.'.join(path.relative_to(ROOT / 'tools').parts)) is not None


def test_no_tool_imports_another_tool():
    """Modules of ``tools/`` import the packages beside them, never a script (nor a tool
    folder such as ``analysis_tools`` but for the packages in it)."""
    assert {'benchmarks', 'ssd_demo', 'synthetic_data'} <= set(BESIDE_TOOLS)
    assert 'analysis_tools.default_box_analysis' in BESIDE_TOOLS
    scripts = {p.stem for p in _sources('tools') if not _in_package_beside_tools(p)}
    folders = {p.name for p in (ROOT / 'tools').iterdir() if p.is_dir()} - set(BESIDE_TOOLS)
    found = [
        f'{path.relative_to(ROOT)}:{line}: {name}'
        for path in _sources('tools')
        for line, name, relative in _imports(path)
        if not relative
        and _beside_tools(name) is None
        and name.split('.')[0] in scripts | folders | {'tools'}
    ]
    assert found == []


def test_ssd_plugin_imports_nothing_beside_the_tools():
    found = [
        f'{path.relative_to(ROOT)}:{line}: {name}'
        for path in _sources('ssd_plugin', '_ssd_plugin_mim')
        for line, name, _ in _imports(path)
        if _beside_tools(name) is not None or name.split('.')[0] == 'tools'
    ]
    assert found == []


def _module(path: Path) -> str:
    return '.'.join(path.relative_to(ROOT).with_suffix('').parts).removesuffix('.__init__')


def test_no_import_cycles():
    """Among the modules of ``ssd_plugin/`` and of the packages beside the tools, counting
    imports inside functions too (``tools.benchmarks`` is imported as ``benchmarks``)."""
    paths = _sources('ssd_plugin', *(f'tools/{p.replace(".", "/")}' for p in BESIDE_TOOLS))
    modules = {_module(p) for p in paths}
    graph = {}
    for path in paths:
        names = {_beside_tools(n) or n for _, n, _ in _imports(path)}
        graph[_module(path)] = {m for m in modules if m != _module(path) and m in names}
    cycles = []
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(' -> '.join(trail + [start]))
                elif nxt not in trail and nxt > start:
                    stack.append((nxt, trail + [nxt]))
    assert cycles == []


def test_no_sys_path_or_pythonpath_edits():
    shell = sorted((ROOT / 'tools').rglob('*.sh'))
    edits = [
        f'{path.relative_to(ROOT)}:{number}'
        for path in [*_sources('ssd_plugin', 'tools'), *shell]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if 'sys.path' in line or ('PYTHONPATH' in line and not line.lstrip().startswith('#'))
    ]
    assert edits == []
