"""Every real config file parses (Dopamine's practice) and sets what its comment says, as
the unit that reads it will see it: in its gin scope, with the code's defaults for the rest."""
import contextlib
import glob
import inspect
import os

import gin
import pytest

from spam_tf.rl import agents
from spam_tf.rl import criteria
from spam_tf.rl import train
from spam_tf.running import experiment
from spam_tf.spam import autoencoder
from spam_tf.spam import transfer

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "*.gin")))
FUNCTIONS = {"train_eval": train.train_eval, "reinforce_agent": agents.reinforce_agent,
             "make_agent": agents.make_agent, "actor_network": agents.actor_network,
             "build_autoencoder": autoencoder.build_autoencoder,
             "train_autoencoder": autoencoder.train_autoencoder, "transfer": transfer.transfer,
             "success_criterion": criteria.success_criterion}
# The observations' meanings (gymnasium's documentation of each env).
CARTPOLE = ("cart position", "cart velocity", "pole angle", "pole angular velocity")
INVERTED_PENDULUM = ("cart position", "pole angle", "cart velocity", "pole angular velocity")

# Per config file: {(scope, function, parameter): the value f1 / f2 / g read}. The
# values are the files' own claims, written out by hand; the defaults they leave alone
# are named where the claim is "only the target changes".
EXPECTED = {
    "smoke.gin": {("source", "train_eval", "iterations"): 3, ("target", "train_eval", "iterations"): 3,
                  ("target", "train_eval", "batch_steps"): 400, ("", "train_eval", "num_envs"): 4,
                  ("", "train_eval", "eval_episodes"): 2, ("", "train_autoencoder", "epochs"): 50},
    "paper_4_1_compression.gin": {("source", "train_eval", "iterations"): 100,
                                  ("target", "train_eval", "iterations"): 100,
                                  ("", "actor_network", "fc_layer_params"): (64, 64),
                                  ("", "build_autoencoder", "hidden_sizes"): (256, 128),
                                  ("", "build_autoencoder", "output_activation"): "relu",
                                  ("", "success_criterion", "returns"): {"CartPole-v1": 500,
                                                                        "InvertedPendulum-v4": 1000}},
    "suite.gin": {("", "success_criterion", "returns"): {}, ("target", "train_eval", "iterations"): 100,
                  ("", "build_autoencoder", "hidden_sizes"): (256, 128),
                  ("target", "transfer", "head_strategy"): "auto"},
    "paper_4_2_transfer.gin": {("target", "transfer", "head_strategy"): "logit_difference",
                               ("", "build_autoencoder", "hidden_sizes"): (256, 128),
                               ("target", "train_eval", "iterations"): 100},
    "paper_4_3_suboptimal.gin": {("target", "reinforce_agent", "learning_rate"): 0.0007,
                                 ("target", "train_eval", "batch_steps"): 1000,
                                 ("source", "reinforce_agent", "learning_rate"): 0.007,  # f1 untouched
                                 ("source", "train_eval", "batch_steps"): 5000,
                                 ("target", "transfer", "head_strategy"): "logit_difference"},
    "paper_hparams.gin": {("", "train_eval", "batch_steps"): 1000, ("", "reinforce_agent", "learning_rate"): 0.005,
                          ("", "reinforce_agent", "gamma"): 0.9, ("", "reinforce_agent", "time_baseline"): False,
                          ("", "reinforce_agent", "learning_rate_decay_steps"): None},
    "f2_ppo.gin": {("target", "make_agent", "algorithm"): "ppo", ("source", "make_agent", "algorithm"): "reinforce"},
    "linear_decoder.gin": {("", "build_autoencoder", "output_activation"): "linear"},
    "auto_map.gin": {("target", "transfer", "observation_map"): "auto"},
    "map_cartpole_to_pendulum.gin": {("target", "transfer", "observation_map"): (0, 2, 1, 3)},
    "map_pendulum_to_cartpole.gin": {("target", "transfer", "observation_map"): (0, 2, 1, 3)},
}


def effective(scope, function, parameter):
  """What `function` reads for `parameter` in gin `scope`: the binding, else its default."""
  default = inspect.signature(FUNCTIONS[function]).parameters[parameter].default
  with (gin.config_scope(scope) if scope else contextlib.nullcontext()):
    return gin.get_bindings(function).get(parameter, default)


def test_every_config_file_states_what_it_sets():
  names = {os.path.basename(path) for path in CONFIGS}
  assert names == set(EXPECTED), f"add expectations for {sorted(names - set(EXPECTED))}"


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_config_sets_what_it_says(path, repo_root, monkeypatch):
  monkeypatch.chdir(repo_root)  # includes are relative to the repo root
  try:
    experiment.parse_gin([path], [])
    for (scope, function, parameter), value in EXPECTED[os.path.basename(path)].items():
      assert effective(scope, function, parameter) == value, (scope, function, parameter)
  finally:
    gin.clear_config()


def test_the_paper_judges_by_the_task_maximum_and_the_suite_by_gymnasiums_thresholds(repo_root, monkeypatch):
  monkeypatch.chdir(repo_root)
  expected = {"paper_4_3_suboptimal.gin": {"CartPole-v1": 500, "InvertedPendulum-v4": 1000},
              "suite.gin": {"CartPole-v1": 475, "Acrobot-v1": -100, "InvertedPendulum-v4": 950,
                            "InvertedDoublePendulum-v4": 9100}}  # gymnasium 1.4's reward_threshold
  try:
    for name, returns in expected.items():
      experiment.parse_gin([os.path.join("configs", name)], [])
      assert {env_id: criteria.success_criterion(env_id) for env_id in returns} == returns, name
  finally:
    gin.clear_config()


def test_the_effective_value_is_the_default_where_nothing_binds_it():
  """The check above can fail: a value no config sets reads as the code's default."""
  gin.clear_config()
  assert effective("target", "train_eval", "batch_steps") == 5000
  gin.parse_config("source/train_eval.batch_steps = 7")
  assert effective("target", "train_eval", "batch_steps") == 5000
  assert effective("source", "train_eval", "batch_steps") == 7
  gin.clear_config()


@pytest.mark.parametrize("name,source,target", [("map_cartpole_to_pendulum.gin", CARTPOLE, INVERTED_PENDULUM),
                                                ("map_pendulum_to_cartpole.gin", INVERTED_PENDULUM, CARTPOLE)])
def test_observation_maps_feed_each_target_input_its_source_counterpart(name, source, target):
  observation_map = EXPECTED[name][("target", "transfer", "observation_map")]
  assert tuple(source[i] for i in observation_map) == target
