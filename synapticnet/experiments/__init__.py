"""Experiments built on the package: comparisons of methods, studies of growth, the accuracy–parameter
front, and their figures. The core (layers, model, methods, the runner) knows nothing of them.

=================  =========================================================================
``compare``        several methods × seeds on one stream, validation sweeps, mean ± std, FWT
``studies``        SynapticNet's design choices: growth per task, growth trigger, distillation
``front``          does growing beat separate networks at equal parameters?
``permuted``       Permuted MNIST under GPM's protocol, next to published accuracy and capacity
``figures``        the figures of those experiments
=================  =========================================================================
"""

from .compare import (DEFAULTS, METHODS, SWEPT, add_forward_transfer, budget_label, compare, conflict_stream,
                      format_mean_std, grid_edge, mean_std, sweep)
from .figures import (accuracy_over_time_grid, front_figure, methods_figure, permuted_figure, settings_figure,
                      sweep_figure, tradeoff_figure, transfer_forgetting_figure)
from .front import (CONFIGS, EXTRA_CONFIGS, MIN_SEEDS, NOT_BELOW_POINTS, PARAMS_TARGETS, SMOKE_STREAMS, SPARSITY,
                    SPARSITY_SHOWN, STREAMS, FrontConfig, comparisons, front_budget, run_front, summarise, targets)
from .permuted import PermutedConfig, permuted_budget, run_permuted
from .studies import distillation_study, growth_study, scaled_growth, trigger_study

__all__ = ["CONFIGS", "DEFAULTS", "EXTRA_CONFIGS", "FrontConfig", "METHODS", "MIN_SEEDS", "NOT_BELOW_POINTS",
           "PARAMS_TARGETS", "SMOKE_STREAMS", "SPARSITY", "SPARSITY_SHOWN", "comparisons",
           "STREAMS", "SWEPT", "add_forward_transfer", "budget_label", "compare", "conflict_stream",
           "distillation_study", "format_mean_std", "front_budget", "grid_edge", "growth_study", "mean_std", "run_front", "scaled_growth", "summarise",
           "sweep", "targets", "trigger_study", "accuracy_over_time_grid", "front_figure", "methods_figure",
           "PermutedConfig", "permuted_budget", "run_permuted", "permuted_figure",
           "settings_figure", "sweep_figure", "tradeoff_figure", "transfer_forgetting_figure"]
