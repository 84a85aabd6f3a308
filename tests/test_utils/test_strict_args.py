"""Unknown config keys and constructor arguments are errors with a hint."""

import pytest

from ssd_plugin.utils.strict_args import check_keys, closest, strict_init


def test_check_keys_names_the_key_and_the_closest_accepted_one():
    with pytest.raises(ValueError) as err:
        check_keys({'score_thresh': 0.5}, ('score_thr', 'nms'), 'SSDHead test_cfg')
    message = str(err.value)
    assert message.startswith("SSDHead test_cfg: unknown key 'score_thresh'")
    assert "(did you mean 'score_thr'?)" in message
    assert message.endswith('accepted: nms, score_thr')


def test_check_keys_without_a_close_match_lists_the_accepted_keys():
    with pytest.raises(ValueError, match=r"unknown keys 'zz', 'nms_pree' \(did you mean 'nms_pre'"):
        check_keys({'zz': 1, 'nms_pre': 1, 'nms_pree': 2}, ('nms_pre',), 'cfg')
    assert closest('zz', ('nms_pre',)) == ''
    check_keys(None, ('a',), 'cfg')  # absent and empty configs pass
    check_keys({}, ('a',), 'cfg')


@strict_init
class _Part:
    def __init__(self, neg_pos_ratio: float = 3, *, beta: float = 1.0) -> None:
        self.neg_pos_ratio = neg_pos_ratio
        self.beta = beta


def test_strict_init_keeps_the_signature_and_rejects_unknown_keywords():
    assert _Part(5, beta=2).neg_pos_ratio == 5
    with pytest.raises(TypeError, match=r"_Part: unknown key 'neg_pos_ration' \(did you mean "):
        _Part(neg_pos_ration=10)
    with pytest.raises(TypeError, match='accepted: beta, neg_pos_ratio'):
        _Part(gamma=1)


def test_strict_init_refuses_a_constructor_with_var_keywords():
    class Loose:
        def __init__(self, **kwargs):
            pass

    with pytest.raises(TypeError, match=r'Loose.__init__ takes \*\*kwargs'):
        strict_init(Loose)
