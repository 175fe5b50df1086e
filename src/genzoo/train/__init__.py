"""Training: one Trainer for every family, checkpoints, optimizers, schedules, EMA (see docs/training.md).

```python
from genzoo.train import Trainer, TrainConfig
trainer = Trainer(model, train_data, TrainConfig(steps=1000, lr=1e-3), out_dir="runs/x", eval_data=test)
history = trainer.fit()
trainer = Trainer.resume("runs/x", train_data)   # continue bit-exactly from the last checkpoint
```
"""

from genzoo.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from genzoo.train.config import OPTIMIZERS, SCHEDULES, PlayerOptim, TrainConfig, make_train_config
from genzoo.train.optim import EMA, Scheduler, build_optimizer, lr_factor
from genzoo.train.plots import save_image_grid, save_loss_curves, save_samples, save_scatter
from genzoo.train.trainer import Trainer, isolated_rng, seed_everything

__all__ = [
    "EMA",
    "OPTIMIZERS",
    "SCHEDULES",
    "PlayerOptim",
    "Scheduler",
    "TrainConfig",
    "Trainer",
    "build_optimizer",
    "isolated_rng",
    "latest_checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "lr_factor",
    "make_train_config",
    "save_image_grid",
    "save_loss_curves",
    "save_samples",
    "save_scatter",
    "seed_everything",
]
