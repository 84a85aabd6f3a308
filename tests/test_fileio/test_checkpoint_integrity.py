"""checkpoint_problem: truncated, empty and bit-flipped checkpoints are found
from the CRC-32 checksums torch.save stores; intact ones pass."""

import torch
from checkpoint_test_utils import flip_bit_in_checkpoint

from ssd_plugin.fileio import checkpoint_problem


def test_intact_truncated_empty_and_flipped(tmp_path):
    path = tmp_path / 'iter_4.pth'
    torch.save({'state_dict': {'w': torch.arange(64, dtype=torch.float32)}}, str(path))
    assert checkpoint_problem(str(path)) is None

    flip_bit_in_checkpoint(path)
    # torch.load does not notice: the flipped weight loads silently.
    loaded = torch.load(str(path), weights_only=False)['state_dict']['w']
    assert not torch.equal(loaded, torch.arange(64, dtype=torch.float32))
    problem = checkpoint_problem(str(path))
    assert problem.startswith('corrupt: record') and 'CRC-32' in problem, problem

    cut = tmp_path / 'cut.pth'
    torch.save({'w': torch.zeros(100)}, str(cut))
    cut.write_bytes(cut.read_bytes()[:-100])
    assert checkpoint_problem(str(cut)).startswith('truncated or not a torch checkpoint')
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    assert checkpoint_problem(str(empty)) == 'empty file (0 bytes)'
    text = tmp_path / 'text.pth'
    text.write_text('not a checkpoint')
    assert checkpoint_problem(str(text)).startswith('truncated or not a torch checkpoint')
    assert checkpoint_problem(str(tmp_path / 'none.pth')) == 'file not found'


def test_legacy_format_passes_only_when_allowed(tmp_path):
    path = tmp_path / 'old.pth'
    torch.save({'w': torch.zeros(3)}, str(path), _use_new_zipfile_serialization=False)
    assert checkpoint_problem(str(path)).startswith('truncated or not a torch checkpoint')
    assert checkpoint_problem(str(path), allow_legacy=True) is None
