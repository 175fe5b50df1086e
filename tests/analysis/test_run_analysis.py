"""analyze_run on a small image run: the analyses that apply, their numbers against direct computation, and the
ones that do not apply named with their reason."""

import json

import pytest
import torch

from genzoo.analysis import analyze_run, posterior_stats
from genzoo.analysis.manifold import intrinsic_dimension
from genzoo.cli import main
from genzoo.errors import ConfigError
from genzoo.train.run import get_data, load_run_model


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("vae") / "run"
    assert main(["train", "vae", "--data", "digits", "--out", str(run), "--steps", "30", "--no-progress",
                 "--set", "model.latent_dim=4", "--set", "model.hidden=[32]"]) == 0
    return run


def test_image_run_gets_posterior_ood_manifold(vae_run):
    res = analyze_run(vae_run, only=["posterior", "ood", "manifold"])
    stored = json.loads((vae_run / "analysis" / "analysis.json").read_text())
    assert set(stored["analyses"]) == {"posterior", "ood", "manifold"}
    model = load_run_model(vae_run)
    model.eval()
    test = get_data("digits", "test")
    direct = posterior_stats(model, test.x)
    assert stored["analyses"]["posterior"]["kl"] == pytest.approx(direct["kl"], rel=1e-9)
    assert stored["analyses"]["posterior"]["active_units"] == direct["active_units"]
    dims = stored["analyses"]["manifold"]["intrinsic_dimension"]
    assert set(dims) == {"data", "samples", "latent codes"}
    x = test.x.flatten(1).double().numpy()
    assert dims["data"]["levina_bickel"] == pytest.approx(intrinsic_dimension(x, "levina_bickel"), rel=1e-9)
    assert dims["latent codes"]["two_nn"] <= 4.5  # 4 latent dimensions
    assert set(stored["analyses"]["ood"]["auroc"]) == {"inverted", "noise", "flipped"}
    for f in ("posterior.png", "ood.png", "manifold_data.png", "manifold_latents.png", "report.html"):
        assert (vae_run / "analysis" / f).is_file()
    assert len(res["figures"]) == 4


def test_analyses_that_do_not_apply_say_why(vae_run):
    with pytest.raises(ConfigError, match="gan does not apply.*discriminate"):
        analyze_run(vae_run, only=["gan"])
    with pytest.raises(ConfigError, match="modes does not apply.*no known modes for digits"):
        analyze_run(vae_run, only=["modes"])
    torch.manual_seed(0)
    res = analyze_run(vae_run, only=["gradients"])
    assert set(res["analyses"]["gradients"]["final"]) == {"model"}


def test_latents_and_traversal_of_an_encoder(vae_run):
    res = analyze_run(vae_run, only=["latents", "traversal"])
    lat, trav = res["analyses"]["latents"], res["analyses"]["traversal"]
    assert lat["route"] == "encoder" and lat["attribute_norm"] > 0
    kl = torch.tensor(trav["kl_per_dim"])
    assert trav["dims"] == torch.argsort(kl, descending=True).tolist()  # rows by KL, largest first
    for f in ("latents_random.png", "latents_interpolation.png", "latents_attribute.png", "traversal.png"):
        assert (vae_run / "analysis" / f).stat().st_size > 500


def test_disentanglement_on_shapes_equals_direct_mig(tmp_path):
    from genzoo.analysis import mig

    run = tmp_path / "run"
    assert main(["train", "vae", "--data", "shapes", "--out", str(run), "--steps", "5", "--no-progress",
                 "--set", "model.latent_dim=3", "--set", "model.hidden=[16]"]) == 0
    res = analyze_run(run, only=["disentanglement"])["analyses"]["disentanglement"]
    model = load_run_model(run)
    model.eval()
    test = get_data("shapes", "test")
    with torch.no_grad():
        codes = torch.cat([model.encode(test.x[i:i + 500])[0] for i in range(0, len(test), 500)]).double()
    direct = mig(codes.numpy(), test.meta["factor_index"])
    assert res["mig"] == pytest.approx(direct.mig, abs=1e-12)
    assert res["factors"] == list(test.meta["factors"]) and len(res["probe_per_factor"]) == 5
