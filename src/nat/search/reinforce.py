"""REINFORCE with entropy regularisation for the policy (paper Sec. 3.4, Eq. 4, Algorithm 1).

For an input beta and a draw alpha ~ pi(. | beta; theta), the reward is the improvement
``R(alpha | beta) = R(alpha, w) - R(beta, w)``. The policy ascends

    (R(alpha | beta) - b) * grad log pi(alpha | beta) + lambda * grad H(pi(. | beta)),

where ``b`` is a moving average *of the reward* (subtracting it lowers the variance without
biasing the gradient). The reference code updated its baseline with the advantage instead,
which makes the baseline chase zero; :class:`MovingAverageBaseline` tracks the reward.

With several draws of one input, :func:`leave_one_out_advantages` compares each draw with the
others of the same input instead (beyond the paper), optionally in units of their spread.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

__all__ = ["MovingAverageBaseline", "leave_one_out_advantages", "reinforce_loss"]

#: Floor of the spread an input's advantages are divided by (a hundredth of a point of accuracy),
#: so an input whose draws all score alike is not blown up into a strong, arbitrary signal.
MIN_SPREAD = 1e-4


def leave_one_out_advantages(rewards: list[float], *, scale: bool = False) -> list[float]:
    """Each draw's reward minus the mean of the input's *other* draws (unbiased: that mean does
    not depend on the draw). With ``scale``, in units of the draws' standard deviation, so inputs
    whose moves differ by tenths of a point teach as much as those that differ by points; the
    advantages then do not change under ``a * reward + b`` for any ``a > 0``."""
    n = len(rewards)
    if n < 2:
        raise ValueError("a leave-one-out baseline needs at least two draws of the input")
    total = sum(rewards)
    spread = statistics.pstdev(rewards) + MIN_SPREAD if scale else 1.0
    return [(r - (total - r) / (n - 1)) / spread for r in rewards]


@dataclass
class MovingAverageBaseline:
    """Exponential moving average of the reward; starts at the first reward seen.

    Args:
        decay: weight of the old value (0.95: about the last 20 rewards).
    """

    decay: float = 0.95
    value: float | None = None

    def advantage(self, reward: float) -> float:
        """``reward - b`` with ``b`` the baseline *before* this reward, then update ``b``."""
        baseline = reward if self.value is None else self.value
        self.value = reward if self.value is None else self.decay * self.value + (1 - self.decay) * reward
        return reward - baseline

    def state_dict(self) -> dict:
        return {"decay": self.decay, "value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.decay, self.value = state["decay"], state["value"]


def reinforce_loss(log_prob: torch.Tensor, entropy: torch.Tensor, advantage: float,
                   entropy_weight: float) -> torch.Tensor:
    """The loss whose gradient *descent* is the ascent of Eq. 4 for one (beta, alpha) pair."""
    return -(advantage * log_prob + entropy_weight * entropy)
