"""Classification accuracy score (CAS; Ravuri & Vinyals 2019, "Classification Accuracy Score for Conditional
Generative Models"): train a classifier only on class-conditional samples (x, y) ~ p_model(x | y) p(y),
then measure its accuracy on the real test set,

    CAS = (1 / n_test) sum_i 1[argmax_k f_gen(x_i)_k = y_i],   (x_i, y_i) real test pairs,

beside the same classifier trained on real training data (the real-data accuracy): a model whose samples carry
the class information of the data reaches it, one whose samples drift off their labels, or cover only part of a
class, falls below it (label noise alone sends CAS towards 1/K). Both numbers come from one code path: the
shipped MNIST recipe (genzoo.eval.classifier.train_classifier) at the same steps and seed, scored by
`classifier_accuracy`. The standard error sqrt(a (1 - a) / n_test) is that of the test-set estimate alone (the
spread over classifier seeds comes on top; genzoo.lab.augmentation measures it).
"""

from __future__ import annotations

import math

from torch import Tensor

from genzoo.eval.classifier import RECIPE_STEPS, classifier_accuracy, train_classifier

CLASSIFIER = "MNISTClassifier"


def _train_and_test(x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, steps: int, seed: int,
                    batch_size: int, device) -> dict:
    clf = train_classifier(x_train, y_train, steps=steps, batch_size=batch_size, seed=seed, device=device)
    acc = classifier_accuracy(clf, x_test, y_test)
    return {"accuracy": acc, "se": math.sqrt(acc * (1.0 - acc) / len(x_test)), "n_train": len(x_train),
            "n_test": len(x_test), "steps": int(steps), "batch_size": int(batch_size), "seed": int(seed),
            "classifier": CLASSIFIER}


def classification_accuracy_score(x_gen: Tensor, y_gen: Tensor, x_test: Tensor, y_test: Tensor, *,
                                  steps: int = RECIPE_STEPS, seed: int = 0, batch_size: int = 128,
                                  device=None) -> dict:
    """CAS of generated images x_gen (N, 1, 28, 28) in [0, 1] with the labels y_gen they were drawn for:
    {"cas", "se", "n_train", "n_test", "steps", "batch_size", "seed", "classifier"}."""
    out = _train_and_test(x_gen, y_gen, x_test, y_test, steps, seed, batch_size, device)
    return {"cas": out.pop("accuracy"), **out}


def real_data_accuracy(x_real: Tensor, y_real: Tensor, x_test: Tensor, y_test: Tensor, *,
                       steps: int = RECIPE_STEPS, seed: int = 0, batch_size: int = 128, device=None) -> dict:
    """The reference beside CAS: the same classifier, recipe, steps and seed trained on real images:
    {"accuracy", "se", "n_train", "n_test", "steps", "batch_size", "seed", "classifier"}."""
    return _train_and_test(x_real, y_real, x_test, y_test, steps, seed, batch_size, device)
