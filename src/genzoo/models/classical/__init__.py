"""Classical baselines fitted by EM: the Gaussian mixture and the hidden Markov model (docs/models/classical.md).

    g = genzoo.models.create("gmm", components=25, data_shape=(2,));  g.fit(x, 100);  g.log_prob(x);  g.sample(10)
    h = genzoo.models.create("hmm", states=64, vocab_size=65, chars=chars, context=128);  h.fit(windows, 10)

gmm.py       `GMM`, `GMMConfig`: EM with diag / full covariances, k-means++ initialisation, responsibilities
hmm.py       `HMM`, `HMMConfig`, `GaussianHMM`: forward, backward, posteriors, Viterbi, Baum-Welch, generation
kmeans.py    `kmeans_plusplus`: D^2 seeding
stepwise.py  `stepwise_em_loss`: EM as the Trainer's update (SGD on the sufficient statistics)

Importing this package registers `gmm` and `hmm` (family "classical").
"""

from genzoo.models.classical.gmm import GMM, GMMConfig
from genzoo.models.classical.hmm import HMM, GaussianHMM, HMMConfig, backward, forward, transition_counts, viterbi
from genzoo.models.classical.kmeans import kmeans_plusplus
from genzoo.models.classical.stepwise import stepwise_em_loss

__all__ = [
    "GMM",
    "HMM",
    "GMMConfig",
    "GaussianHMM",
    "HMMConfig",
    "backward",
    "forward",
    "kmeans_plusplus",
    "stepwise_em_loss",
    "transition_counts",
    "viterbi",
]
