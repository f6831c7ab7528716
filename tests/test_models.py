"""Every model config × every task config composes with method=krona; each family gets the head its task needs."""

from __future__ import annotations

import pytest
from transformers import (
    GPT2LMHeadModel,
    T5ForConditionalGeneration,
    T5ForSequenceClassification,
)

from kronbench.choices import available_options
from kronbench.models import head_class, load_model
from kronbench.run import to_run_config
from tests.conftest import CONF_DIR, compose_config, needs_shared

MODELS = [m for m in available_options("model", CONF_DIR) if not m.startswith("family")]
TASKS = available_options("task", CONF_DIR)
NLG = {"e2e_nlg", "web_nlg", "dart"}


def expected_error(family: str, task: str, task_type: str) -> bool:
    """Pairs no paper uses and transformers has no head for: encoders on NLG, GPT-2 on multiple choice."""
    if task in NLG:
        return family not in ("t5", "gpt2")
    return task_type == "multiple_choice" and family == "gpt2"


@pytest.mark.parametrize("model", MODELS)
def test_every_model_task_pair_composes_and_resolves_a_head(model):
    for task in TASKS:
        cfg = to_run_config(compose_config(f"model={model}", f"task={task}", "method=krona"))
        if expected_error(cfg.model.family, task, cfg.task.type):
            with pytest.raises(ValueError, match=cfg.model.family):
                head_class(cfg.model, cfg.task)
        else:
            assert head_class(cfg.model, cfg.task) is not None


@pytest.mark.parametrize(
    ("model", "task", "extra", "cls"),
    [
        ("tiny-t5", "super_glue/cb", [], T5ForConditionalGeneration),
        ("tiny-t5", "super_glue/cb", ["task.format=classification_head"], T5ForSequenceClassification),
        ("tiny-t5", "squad", [], T5ForConditionalGeneration),
        ("tiny-gpt2", "e2e_nlg", [], GPT2LMHeadModel),
        ("tiny-bert", "super_glue/copa", [], "BertForMultipleChoice"),
        ("tiny-roberta", "squad", [], "RobertaForQuestionAnswering"),
        ("tiny-deberta", "squad_v2", [], "DebertaV2ForQuestionAnswering"),
        ("tiny-bert", "super_glue/record", [], "BertForSequenceClassification"),
    ],
)
@needs_shared  # the tiny models use the real tokenizers in ../shared/models/tokenizers
def test_tiny_models_load_with_their_heads(model, task, extra, cls):
    cfg = to_run_config(compose_config(f"model={model}", f"task={task}", *extra))
    net, tok = load_model(cfg.model, cfg.task)
    name = cls if isinstance(cls, str) else cls.__name__
    assert type(net).__name__ == name
    assert tok.pad_token_id is not None


def test_model_configs_name_hub_ids_users_know():
    hub = {m: to_run_config(compose_config(f"model={m}")).model.pretrained for m in MODELS}
    assert hub["t5-base"] == "google-t5/t5-base" and hub["roberta-large"] == "FacebookAI/roberta-large"
    assert (
        hub["deberta-v3-base"] == "microsoft/deberta-v3-base"
        and hub["gpt2-medium"] == "openai-community/gpt2-medium"
    )
    assert (
        hub["deberta-v2-xxlarge"] == "microsoft/deberta-v2-xxlarge"
        and hub["gpt2-large"] == "openai-community/gpt2-large"
    )


def test_gpt2_small_random_is_small_and_random():
    cfg = to_run_config(compose_config("model=gpt2-small-random", "task=e2e_nlg")).model
    assert (
        cfg.init == "random"
        and cfg.config_overrides["n_layer"] == 6
        and cfg.config_overrides["n_embd"] == 512
    )


@needs_shared
def test_minilm_pooler_is_untrained_so_it_trains_with_the_head():
    """all-MiniLM-L6-v2 ships a pooler that was never trained (zero bias, a random weight of std ~0.009): frozen, it
    would squeeze [CLS] through a random projection, so conf/model/minilm.yaml trains it with the head; BERT-base's
    NSP-trained pooler stays frozen."""
    from safetensors import safe_open

    from tests.conftest import MINILM_FP16

    with safe_open(str(MINILM_FP16 / "model.safetensors"), "pt") as weights:
        bias = weights.get_tensor("pooler.dense.bias").float()
        weight = weights.get_tensor("pooler.dense.weight").float()
    assert bias.abs().max().item() == 0.0
    assert weight.std().item() < 0.015
    minilm = to_run_config(compose_config("model=minilm", "task=glue/cola")).model
    bert = to_run_config(compose_config("model=bert-base-uncased", "task=glue/cola")).model
    assert "pooler" in minilm.head_modules and "pooler" not in bert.head_modules
