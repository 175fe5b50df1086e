"""What `genzoo list` shows, without importing torch: a table generated from the registered classes.

Importing torch takes about 2 s on a small machine, so `genzoo list` reads this table instead of the registry. It is
generated, never edited by hand: after adding or changing a model (its docstring, likelihood, data kinds) or a data
set, run

    python -m genzoo.catalog

which rewrites this file. tests/cli/test_cli_fast.py fails, naming that command, when the table and the classes
disagree.
"""

from __future__ import annotations

# ---- generated below: python -m genzoo.catalog ----
MODELS: list[dict] = [{'name': 'beta-vae',
  'family': 'vae',
  'likelihood': 'bound',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': 'nats/example',
  'description': 'beta-VAE (Higgins et al. 2017): recon + beta KL; capacity_max > 0 gives...'},
 {'name': 'cgan',
  'family': 'gan',
  'likelihood': 'none',
  'data_kinds': ['image', 'points'],
  'conditional': True,
  'loss_units': '',
  'description': 'Conditional GAN (Mirza & Osindero 2014; projection: Miyato 2018).'},
 {'name': 'cvae',
  'family': 'vae',
  'likelihood': 'bound',
  'data_kinds': ['image', 'points'],
  'conditional': True,
  'loss_units': 'nats/example',
  'description': 'Conditional VAE (Sohn et al. 2015): one-hot labels concatenated to the...'},
 {'name': 'dcgan',
  'family': 'gan',
  'likelihood': 'none',
  'data_kinds': ['image'],
  'conditional': False,
  'loss_units': '',
  'description': 'DCGAN (Radford et al. 2016).'},
 {'name': 'ddim',
  'family': 'diffusion',
  'likelihood': 'bound',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': '',
  'description': '`ddpm` with DDIM sampling (50 steps, eta = 0) by default; the same training...'},
 {'name': 'ddpm',
  'family': 'diffusion',
  'likelihood': 'bound',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': '',
  'description': 'Denoising diffusion probabilistic model (Ho et al. 2020): L_simple / L_vlb /...'},
 {'name': 'gan',
  'family': 'gan',
  'likelihood': 'none',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': '',
  'description': 'Minimax (saturating) GAN, Goodfellow et al. 2014.'},
 {'name': 'gated-pixelcnn',
  'family': 'autoregressive',
  'likelihood': 'exact',
  'data_kinds': ['image'],
  'conditional': False,
  'loss_units': 'nats/example',
  'description': 'Gated PixelCNN (van den Oord et al. 2016b): vertical and horizontal stacks...'},
 {'name': 'glow',
  'family': 'flow',
  'likelihood': 'exact',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': 'nats/dim',
  'description': 'Glow (Kingma & Dhariwal 2018): ActNorm, invertible 1x1 convolution, affine...'},
 {'name': 'gpt',
  'family': 'transformer',
  'likelihood': 'exact',
  'data_kinds': ['text'],
  'conditional': False,
  'loss_units': 'nats/token',
  'description': 'GPT (Radford et al. 2019): decoder-only transformer, log p(window) = sum_t...'},
 {'name': 'iwae',
  'family': 'vae',
  'likelihood': 'bound',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': 'nats/example',
  'description': 'Importance-weighted autoencoder (Burda et al. 2016): maximise log (1/k)...'},
 {'name': 'made',
  'family': 'autoregressive',
  'likelihood': 'exact',
  'data_kinds': ['image'],
  'conditional': False,
  'loss_units': 'nats/example',
  'description': 'MADE (Germain et al. 2015): a masked MLP over the flattened image...'},
 {'name': 'maf',
  'family': 'flow',
  'likelihood': 'exact',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': 'nats/dim',
  'description': 'Masked autoregressive flow (Papamakarios et al. 2017); `iaf=True` gives IAF...'},
 {'name': 'ncsn',
  'family': 'diffusion',
  'likelihood': 'none',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': '',
  'description': 'Noise-conditional score network (Song & Ermon 2019): denoising score...'},
 {'name': 'nice',
  'family': 'flow',
  'likelihood': 'exact',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': 'nats/dim',
  'description': 'NICE (Dinh, Krueger & Bengio 2015): additive couplings (volume preserving) +...'},
 {'name': 'ns-gan',
  'family': 'gan',
  'likelihood': 'none',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': '',
  'description': 'Non-saturating GAN.'},
 {'name': 'pacgan',
  'family': 'gan',
  'likelihood': 'none',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': '',
  'description': 'PacGAN (Lin et al. 2018).'},
 {'name': 'pggan',
  'family': 'gan',
  'likelihood': 'none',
  'data_kinds': ['image'],
  'conditional': False,
  'loss_units': '',
  'description': 'Progressively grown GAN; stage and alpha follow `schedule(step)` through...'},
 {'name': 'pixelcnn',
  'family': 'autoregressive',
  'likelihood': 'exact',
  'data_kinds': ['image'],
  'conditional': False,
  'loss_units': 'nats/example',
  'description': 'PixelCNN (van den Oord et al. 2016a, sec. 3.4-3.5): a mask-A 7x7...'},
 {'name': 'pixelrnn',
  'family': 'autoregressive',
  'likelihood': 'exact',
  'data_kinds': ['image'],
  'conditional': False,
  'loss_units': 'nats/example',
  'description': 'PixelRNN with Row LSTM layers (van den Oord et al. 2016a, sec. 3.1): a...'},
 {'name': 'pixelrnn-diag',
  'family': 'autoregressive',
  'likelihood': 'exact',
  'data_kinds': ['image'],
  'conditional': False,
  'loss_units': 'nats/example',
  'description': 'PixelRNN with Diagonal BiLSTM layers (van den Oord et al. 2016a, sec. 3.2)...'},
 {'name': 'realnvp',
  'family': 'flow',
  'likelihood': 'exact',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': 'nats/dim',
  'description': 'RealNVP (Dinh, Sohl-Dickstein & Bengio 2017): affine couplings...'},
 {'name': 'score-sde',
  'family': 'diffusion',
  'likelihood': 'exact',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': '',
  'description': 'Score-based SDE model (Song et al. 2021): VP, sub-VP or VE SDE, reverse-SDE...'},
 {'name': 'sngan',
  'family': 'gan',
  'likelihood': 'none',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': '',
  'description': 'Spectrally normalised hinge GAN.'},
 {'name': 'vae',
  'family': 'vae',
  'likelihood': 'bound',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': 'nats/example',
  'description': 'Variational autoencoder with a standard normal prior and a diagonal Gaussian...'},
 {'name': 'wgan',
  'family': 'gan',
  'likelihood': 'none',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': '',
  'description': 'WGAN with weight clipping (RMSprop, lr 5e-5, as in Arjovsky et al. 2017).'},
 {'name': 'wgan-gp',
  'family': 'gan',
  'likelihood': 'none',
  'data_kinds': ['image', 'points'],
  'conditional': False,
  'loss_units': '',
  'description': 'WGAN-GP (Gulrajani et al. 2017).'}]
DATA: list[str] = ['2spirals',
 '8gaussians',
 'checkerboard',
 'circles',
 'digits',
 'grid25',
 'ising',
 'mnist',
 'moons',
 'pinwheel',
 'ring8',
 'shakespeare',
 'stacked-mnist',
 'swissroll']
# ---- end of generated part ----


def current() -> tuple[list[dict], list[str]]:
    """The table as the registered classes and genzoo.data say it is now (imports every family and torch)."""
    from genzoo.cli.list_cmd import summary
    from genzoo.models import available, get_class
    from genzoo.train.run import data_names

    models = []
    for name in available():
        cls = get_class(name)
        models.append({"name": name, "family": cls.family, "likelihood": cls.likelihood,
                       "data_kinds": list(cls.data_kinds), "conditional": bool(cls.conditional),
                       "loss_units": cls.loss_units,
                       "description": summary(cls.__doc__)})
    return models, data_names()


def write() -> str:
    """Rewrite the generated part of this file from `current()`; returns the path."""
    import pprint
    from pathlib import Path

    models, data = current()
    path = Path(__file__)
    text = path.read_text()
    start = text.index("# ---- generated below")
    end = text.index("# ---- end of generated part ----")
    body = ("# ---- generated below: python -m genzoo.catalog ----\n"
            f"MODELS: list[dict] = {pprint.pformat(models, width=116, sort_dicts=False)}\n"
            f"DATA: list[str] = {pprint.pformat(data, width=116)}\n")
    path.write_text(text[:start] + body + text[end:])
    return str(path)


if __name__ == "__main__":
    print(f"wrote {write()}")
