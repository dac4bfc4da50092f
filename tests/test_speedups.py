"""Steps to a loss level when some seeds never arrive (issue 9): censored medians, the ladder,
speed-ups only between medians. Expected values are worked out by hand in each test."""

import math

import pytest

from rnninit.core.stats import ema_update, first_steps_at_or_below, km_median


# ---------------------------------------------------------------------------------------------
# km_median: Kaplan-Meier median with right-censoring, on hand-made step lists
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "times, reached, expected",
    [
        # S(80) = 2/3, S(100) = 2/3 * 1/2 = 1/3 <= 1/2
        ([80, 100, 300], [True, True, False], 100),
        # one of three: S(80) = 2/3 and no later event
        ([80, 300, 300], [True, False, False], None),
        ([300, 300, 300], [False, False, False], None),
        ([120, 40, 90], [True, True, True], 90),  # no censoring: the ordinary median
        # S(10) = 4/5; the seed censored at 20 leaves 3 at risk; S(30) = 4/5 * 2/3 = 8/15 > 1/2;
        # S(40) = 8/15 * 1/2 = 4/15: the median is the second event after the censoring (the
        # median of the raw steps, 30, would treat the censored seed as if it had arrived at 20)
        ([10, 20, 30, 40, 50], [True, False, True, True, True], 40),
        # exactly half: S(80) = 1/2 is the median
        ([80, 300], [True, False], 80),
        # 4 seeds: S(20) = 3/4, S(30) = 3/4 * 2/3 = 1/2 exactly
        ([20, 30, 300, 300], [True, True, False, False], 30),
        # ties: a seed reaching at 50 and two censored at 50 -> all three at risk at 50,
        # S(50) = 2/3 (censoring first would leave 1 at risk and S = 0)
        ([50, 50, 50], [True, False, False], None),
        # two events tied at 60 among 4: S(60) = 2/4
        ([60, 60, 200, 200], [True, True, False, False], 60),
        ([], [], None),
    ],
)
def test_km_median_against_hand_computed_values(times, reached, expected):
    assert km_median(times, reached) == expected


def test_km_median_refuses_mismatched_lengths():
    with pytest.raises(ValueError):
        km_median([1, 2], [True])


# ---------------------------------------------------------------------------------------------
# The smoothing rule, shared by training (steps_to_target) and the ladder
# ---------------------------------------------------------------------------------------------
def test_first_steps_at_or_below_follow_the_ema_by_hand():
    losses = [4.0, 2.0, 1.0, float("nan")]
    # EMA: 4.0; 0.9*4 + 0.1*2 = 3.8; 0.9*3.8 + 0.1*1 = 3.52; nan leaves it
    assert ema_update(None, 4.0) == 4.0
    assert ema_update(4.0, 2.0) == pytest.approx(3.8)
    steps = first_steps_at_or_below([0, 1, 2, 3], losses, [4.0, 3.9, 3.6, 3.5])
    assert steps == [0, 1, 2, None]
    assert first_steps_at_or_below([], [], [1.0]) == [None]
    assert math.isnan(losses[-1])  # the diverged row counts for nothing
