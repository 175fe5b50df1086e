"""Classification accuracy score (Ravuri and Vinyals 2019, "Classification Accuracy Score for Conditional
Generative Models", sec. 3): train a classifier only on labelled generated samples (x_gen, y_gen), with y_gen the
labels the class-conditional model was asked for, then report its accuracy on the real held-out data:

    CAS = 1/N sum_i 1[f_gen(x_i) = y_i],    f_gen = the classifier trained on (x_gen, y_gen)

Beside it, `real_data_accuracy` trains the same classifier with the same recipe on as many real images: the gap
between the two is what the samples lack (wrong digits for their label, missing variety), which FID does not
separate. The classifier and the recipe are `genzoo.eval.classifier.train_classifier`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from genzoo.errors import DataError

CAS_STEPS = 600


def classification_accuracy_score(x_gen: Tensor, y_gen: Tensor, x_test: Tensor, y_test: Tensor, *,
                                  steps: int = CAS_STEPS, seed: int = 0, device=None) -> dict[str, Any]:
    """{"cas", "n_train", "n_test", "steps", "seed", "classifier"}: accuracy on (x_test, y_test) of a classifier
    trained on (x_gen, y_gen)."""
    from genzoo.eval.classifier import classifier_accuracy, train_classifier

    x_gen, y_gen = torch.as_tensor(x_gen).float().clamp(0, 1), torch.as_tensor(y_gen).long()
    if y_gen.numel() != len(x_gen):
        raise DataError(f"classification_accuracy_score: {len(x_gen)} samples but {y_gen.numel()} labels")
    clf = train_classifier(x_gen, y_gen, steps=steps, seed=seed, device=device)
    return {"cas": classifier_accuracy(clf, x_test, y_test), "n_train": len(x_gen), "n_test": len(x_test),
            "steps": steps, "seed": seed, "classifier": "MNISTClassifier (genzoo.eval.classifier recipe)"}


def real_data_accuracy(x_real: Tensor, y_real: Tensor, x_test: Tensor, y_test: Tensor, *, steps: int = CAS_STEPS,
                       seed: int = 0, device=None) -> dict[str, Any]:
    """The same classifier and recipe trained on real images: the reference CAS is compared with."""
    r = classification_accuracy_score(x_real, y_real, x_test, y_test, steps=steps, seed=seed, device=device)
    return {"accuracy": r.pop("cas"), **r}
