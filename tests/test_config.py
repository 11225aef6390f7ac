import pytest

from reer.config import ReerConfig, load_config, parse_override
from reer.errors import ConfigError


def test_defaults_match_reer_md():
    s = ReerConfig().search
    assert (s.stop_threshold, s.max_steps, s.num_expansion, s.rollouts) == (0.25, 10, 2, 1)
    assert (s.temperature, s.top_p, s.clip) == (0.8, 0.85, 2.0)
    assert (s.min_segment_chars, s.min_initial_tokens) == (100, 100)
    assert (s.max_new_tokens_initial, s.max_new_tokens_refine) == (8000, 8000)
    assert (s.analysis_tokens, s.score_full_reference, s.rescore_joined) == (None, False, True)
    assert {o.text: o.weight for o in s.openers["en"]} == {
        "Okay, I am given": 0.2,
        "Alright, the user": 0.48,
        "Alright": 0.32,
    }
    assert [o.text for o in s.openers["zh"]] == ["好的", "嗯"]


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  max_steps: 4\n  num_expansion: 3\nseed: 7\n")
    cfg = load_config(path, dict([parse_override("search.max_steps=2"), parse_override("scorer.model=/m")]))
    assert cfg.search.max_steps == 2 and cfg.search.num_expansion == 3 and cfg.seed == 7
    assert cfg.scorer_model.model == "/m" and cfg.generator.model == "smollm2-135m-instruct"


def test_unknown_key_is_rejected_with_file_and_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  max_step: 4\n")
    with pytest.raises(ConfigError, match=r"c.yaml.*search.max_step"):
        load_config(path)


@pytest.mark.parametrize("override", ["search.top_p=1.5", "search.num_expansion=0", "search.clip=-1"])
def test_out_of_range_values_are_rejected(override):
    with pytest.raises(ConfigError):
        load_config(None, dict([parse_override(override)]))


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="section.field=value"):
        parse_override("max_steps")


def test_scorer_defaults_to_generator():
    cfg = ReerConfig()
    assert cfg.scorer_model is cfg.generator


def test_eval_cpu_preset_fills_only_what_was_not_set():
    import importlib.util

    from reer.config import EvalConfig, apply_eval_preset

    mine = EvalConfig(max_new_tokens=300, judge={"attempts": 1})
    cpu = apply_eval_preset(mine, "cpu")
    assert cpu.max_new_tokens == 300 and cpu.thinking_tokens == 128 and cpu.batch_size == 2
    assert cpu.judge.max_tokens == 200 and cpu.judge.attempts == 1
    assert cpu.judge.local.backend == ("llamacpp" if importlib.util.find_spec("llama_cpp") else "transformers")
    assert apply_eval_preset(mine, None) is mine
    with pytest.raises(ConfigError, match="unknown eval preset 'gpu'; choose one of: cpu"):
        apply_eval_preset(mine, "gpu")


def test_plot_titles_fit_their_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reer.eval.report import TEXT_ONLY, _fitted, _short_model

    model = "/very/long/path/to/some/experiments/2026-11-29/arms/no-reflection/final$$model"
    assert _short_model(model) == "no-reflection/final$$model"
    with matplotlib.rc_context(TEXT_ONLY):  # as the plots are drawn: `$…$` is text
        figure, axes = plt.subplots(figsize=(4.0, 3.6))
        axes.set_title(_fitted(f"writingbench: {model} — SMOKE TEST ONLY", 4.0), fontsize=10)
        figure.canvas.draw()
    box = axes.title.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= figure.bbox.width  # neither side is cut off
    assert axes.title.get_text().count("$") == 2
    plt.close(figure)
