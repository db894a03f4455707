"""Recipes: every shipped recipe loads; --set overrides are typed; bad recipes name file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from neuromoco.train.recipe import RecipeError, dumps, load_recipe, parse_set

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))


def test_recipes_present():
    names = {p.stem for p in RECIPES}
    for need in [
        "pretrain_sew18_mixed",
        "pretrain_spikformer_mixed",
        "pretrain_procedural_cpu",
        "finetune_procedural_cpu",
    ] + [
        f"finetune_{m}_{d}"
        for m in ("sew18", "spikformer")
        for d in ("dvs128_gesture", "cifar10_dvs", "ncaltech101")
    ]:
        assert need in names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_loads_and_round_trips(path):
    cfg = load_recipe(path)
    assert tomllib.loads(dumps(cfg)) == cfg
    if path.stem.startswith("pretrain_"):
        assert cfg["run"]["task"] == "pretrain"
        assert cfg["moco"]["queue_size"] % cfg["optim"]["batch_size"] == 0
    else:
        assert cfg["run"]["task"] == "finetune"


# the paper's rows are named TASK_BACKBONE[_DATASET]; demo and CPU recipes are not paper rows
PAPER_ROWS = [p for p in RECIPES if p.stem.split("_")[1] in ("sew18", "spikformer")]


def test_paper_rows_are_found():
    assert len(PAPER_ROWS) == 8


@pytest.mark.parametrize("path", PAPER_ROWS, ids=lambda p: p.stem)
def test_paper_rows_match_table_1(path):
    cfg = load_recipe(path)
    assert cfg["data"]["T"] == 16 and cfg["data"]["size"] == [128, 128]
    if cfg["run"]["task"] == "pretrain":
        assert cfg["data"]["datasets"] == ["dvs128_gesture", "cifar10_dvs", "ncaltech101"]
        assert (cfg["optim"]["name"], cfg["optim"]["lr"], cfg["optim"]["batch_size"]) == (
            "sgd",
            0.03,
            32,
        )
        assert (cfg["optim"]["momentum"], cfg["optim"]["weight_decay"]) == (0.9, 1e-4)
        assert cfg["run"]["epochs"] == 200 and cfg["moco"]["momentum"] == 0.999
        assert cfg["schedule"]["name"] == "multistep" and cfg["moco"]["loss"] == "mix_infonce"
    else:
        assert (cfg["optim"]["name"], cfg["optim"]["lr"], cfg["optim"]["weight_decay"]) == (
            "adamw",
            1e-3,
            0.06,
        )
        assert cfg["optim"]["batch_size"] == 16 and cfg["run"]["epochs"] == 100
        assert cfg["schedule"]["name"] == "cosine" and cfg["schedule"]["warmup_epochs"] == 30
        assert cfg["loss"]["name"] == "mac" and cfg["finetune"]["pretrained"]


def test_set_overrides_are_typed():
    cfg = load_recipe(
        None,
        [
            "optim.lr=1",
            "data.size=[64, 48]",
            "model.arch=sew_resnet_tiny",
            "run.amp=false",
            "model.kwargs.base_width=8",
            'data.root="/x y"',
        ],
    )
    assert cfg["optim"]["lr"] == 1.0 and isinstance(cfg["optim"]["lr"], float)
    assert cfg["data"]["size"] == [64, 48] and cfg["model"]["arch"] == "sew_resnet_tiny"
    assert cfg["run"]["amp"] is False and cfg["model"]["kwargs"] == {"base_width": 8}
    assert cfg["data"]["root"] == "/x y"
    assert parse_set("a.b = 3") == ("a.b", 3)


@pytest.mark.parametrize(
    "sets,match",
    [
        (["optim.lr=fast"], r"--set optim.lr=fast: optim.lr must be a number"),
        (["optim.batch_size=8.5"], "optim.batch_size must be an integer"),
        (["run.amp=1"], "run.amp must be a boolean"),
        (["optim.lrate=0.1"], "unknown key 'optim.lrate'; did you mean 'lr'"),
        (["optimizer.lr=0.1"], "unknown key 'optimizer'"),
        (["optim=3"], "must be section.key"),
        (["optim.lr"], "expected key=value"),
        (["run.task=train"], "run.task must be one of pretrain, finetune"),
        (["moco.alpha=0.7"], "moco.alpha \\+ moco.beta must be 1"),
        (["moco.momentum=1.0"], r"moco.momentum must be in \[0, 1\)"),
        (["data.size=[64]"], "data.size must be"),
        (["data.label_fraction=0"], "label_fraction"),
        (["schedule.milestones=[20, 10]"], "milestones"),
        (["optim.lr=-1"], "optim.lr must be > 0"),
        (["data.name=mixed"], "needs data.datasets"),
    ],
)
def test_bad_overrides(sets, match):
    with pytest.raises(RecipeError, match=match):
        load_recipe(None, sets)


@pytest.mark.parametrize(
    "text,match",
    [
        ("[optim]\nlr = 'x'\n", "bad.toml: optim.lr must be a number"),
        ("[optim]\nlr = \n", "bad.toml: invalid TOML"),
        ("[optimiser]\nlr = 0.1\n", "bad.toml: unknown key 'optimiser'"),
        ("optim = 3\n", r"bad.toml: \[optim\] must be a table"),
        ("[moco]\nqueue = 10\n", "unknown key 'moco.queue'; did you mean 'queue_size'"),
    ],
)
def test_bad_recipe_files_name_file_and_key(tmp_path, text, match):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(RecipeError, match=match):
        load_recipe(p)


def test_missing_and_binary_recipe(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.toml")
    with pytest.raises(RecipeError, match="is a directory"):
        load_recipe(tmp_path)
    (tmp_path / "b.toml").write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(RecipeError, match="not a text"):
        load_recipe(tmp_path / "b.toml")


def test_cli_prints_recipe_errors_without_traceback(tmp_path, capsys):
    import argparse

    from neuromoco.commands import pretrain

    p = argparse.ArgumentParser()
    pretrain.add_arguments(p)
    args = p.parse_args([str(RECIPES[0]), "--set", "optim.lr=abc"])
    with pytest.raises(RecipeError, match="optim.lr"):
        pretrain.run(args)


def test_window_sampling_goes_into_the_framing_spec():
    from neuromoco.train.datasets import framing_from

    cfg = load_recipe(
        None,
        ["data.sampling=window", "data.window_us=800000", "data.split_by=time", "data.T=8"],
    )
    spec = framing_from(cfg)
    assert (spec.window_us, spec.window_events, spec.split_by, spec.T) == (800000, None, "time", 8)
    assert framing_from(load_recipe(None, [])).window_us is None  # clip sampling: no window


def test_window_sampling_without_a_window_is_an_error():
    from neuromoco.train.datasets import framing_from

    with pytest.raises(ValueError, match="window_us or data.window_events"):
        framing_from(load_recipe(None, ["data.sampling=window"]))
    with pytest.raises(RecipeError, match="data.sampling"):
        load_recipe(None, ["data.sampling=windows"])


def test_old_key_data_mode_is_read_with_a_warning_naming_data_sampling(tmp_path):
    # every run folder holds a recipe.toml written before the rename: it must still load
    old = tmp_path / "recipe.toml"
    old.write_text('[data]\nmode = "window"\nwindow_us = 800000\n')
    with pytest.warns(FutureWarning, match=r"data\.mode is deprecated, use data\.sampling"):
        cfg = load_recipe(old)
    assert cfg["data"]["sampling"] == "window" and "mode" not in cfg["data"]
    assert 'sampling = "window"' in dumps(cfg) and "\nmode =" not in dumps(cfg)
    with pytest.warns(FutureWarning) as caught:  # the file's key, then the --set override
        assert load_recipe(old, ["data.mode=clip"])["data"]["sampling"] == "clip"
    where = [str(w.message).split(": recipe key")[0] for w in caught]
    assert where == [str(old), "--set data.mode=clip"]
    both = tmp_path / "both.toml"
    both.write_text('[data]\nmode = "window"\nsampling = "clip"\n')
    with pytest.raises(RecipeError, match="keep only data.sampling"):
        load_recipe(both)
