"""f1/f2 training: learning happens, a SIGKILLed run resumes exactly, the SavedModel works."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from spam_tf.rl import collect
from spam_tf.rl import policy as policy_lib
from spam_tf.rl import snapshots
from spam_tf.rl import train

SMALL = dict(batch_steps=500, num_envs=4, eval_episodes=3)


def random_policy_return(env_id, episodes=10):
  collector = collect.EpisodeCollector(env_id, episodes)
  rng = np.random.default_rng(0)
  return np.mean([ep.total_return for ep in collector.collect(
      lambda obs: rng.integers(0, 2, len(obs)), 0, seed=0)])


def test_short_cartpole_training_beats_random_policy(tmp_path):
  result = train.train_eval("CartPole-v1", str(tmp_path), str(tmp_path / "logs"), seed=0,
                            iterations=12, batch_steps=1000, num_envs=4, eval_episodes=5)
  baseline = random_policy_return("CartPole-v1")
  assert baseline < 40
  assert max(result["eval_returns"][-3:]) > 3 * baseline, (baseline, result["eval_returns"])
  assert len(result["eval_returns"]) == 13 and result["eval_iterations"][0] == 0
  assert os.path.exists(tmp_path / "result.json")


TRAIN_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from spam_tf.rl import train
    train.train_eval("CartPole-v1", sys.argv[1], sys.argv[1] + "/logs", seed=7,
                     iterations=40, checkpoint_interval=2, **{small!r})
""")


def run_script(root, run_dir):
  return subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT.format(root=root, small=SMALL), run_dir],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, repo_root):
  whole = str(tmp_path / "whole")
  killed = str(tmp_path / "killed")
  proc = run_script(repo_root, killed)
  marker = os.path.join(killed, "checkpoints", "ckpt-4.index")
  deadline = time.time() + 120
  while not os.path.exists(marker) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not os.path.exists(os.path.join(killed, "result.json")), "run finished before the kill"
  resumed = train.train_eval("CartPole-v1", killed, killed + "/logs", seed=7, iterations=40,
                             checkpoint_interval=2, **SMALL)
  # ckpt-4's files can exist before the manager's state file names it; then the
  # latest complete checkpoint is still 2.
  assert len(resumed["resumed_from"]) == 1 and resumed["resumed_from"][0] in (2, 4, 6, 8)
  uninterrupted = train.train_eval("CartPole-v1", whole, whole + "/logs", seed=7, iterations=40,
                                   checkpoint_interval=2, **SMALL)
  assert resumed["eval_returns"] == uninterrupted["eval_returns"]
  assert resumed["train_returns"] == uninterrupted["train_returns"]
  np.testing.assert_array_equal(snapshots.load(killed), snapshots.load(whole))


LOAD_SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import numpy as np, tensorflow as tf
    from tf_agents.trajectories import time_step as ts
    policy = tf.saved_model.load(sys.argv[1])
    obs = np.load(sys.argv[2])
    actions = policy.action(ts.restart(tf.constant(obs), batch_size=len(obs))).action.numpy()
    assert "spam_tf" not in sys.modules
    np.save(sys.argv[3], actions)
""")


@pytest.mark.parametrize("env_id", ["CartPole-v1", "InvertedPendulum-v4"])
def test_saved_model_gives_the_in_memory_greedy_actions(tmp_path, env_id):
  result = train.train_eval(env_id, str(tmp_path), str(tmp_path / "logs"), seed=1, iterations=2,
                            batch_steps=300, num_envs=2, eval_episodes=1)
  obs = np.random.default_rng(0).normal(0, 0.5, (32, 4)).astype(np.float32)
  np.save(tmp_path / "obs.npy", obs)
  subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(tmp_path / result["saved_model"]),
                  str(tmp_path / "obs.npy"), str(tmp_path / "actions.npy")], check=True,
                 env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
  loaded = np.load(tmp_path / "actions.npy")
  # the in-memory policy, rebuilt from the saved final weights
  from tests.test_policy import make
  from spam_tf.rl import weights
  _, net, act_spec = make(env_id)
  weights.assign(net, weights.unflatten(snapshots.load(str(tmp_path)), result["weight_shapes"]))
  expected = policy_lib.from_network(net, act_spec).greedy(obs)
  if result["discrete"]:
    np.testing.assert_array_equal(loaded, expected)
  else:
    np.testing.assert_allclose(loaded, expected, atol=1e-5)
    assert np.all(np.abs(loaded) <= 3.0)


def test_ppo_as_f2_records_distribution_parameters_and_trains(tmp_path):
  import gin
  with gin.unlock_config():
    gin.bind_parameter("make_agent.algorithm", "ppo")
    gin.bind_parameter("ppo_agent.num_epochs", 2)
  try:
    result = train.train_eval("InvertedPendulum-v4", str(tmp_path), str(tmp_path / "logs"), seed=0,
                              iterations=2, batch_steps=300, num_envs=2, eval_episodes=1)
  finally:
    gin.clear_config()
  assert len(result["eval_returns"]) == 3 and all(np.isfinite(result["losses"]))
  collector = collect.EpisodeCollector("InvertedPendulum-v4", 2)
  from tests.test_policy import make
  _, net, act_spec = make("InvertedPendulum-v4")
  policy = policy_lib.from_network(net, act_spec)
  rng = np.random.default_rng(0)
  episodes = collector.collect(lambda obs: policy.sample_with_info(obs, rng), 50, seed=0)
  traj = collect.to_trajectory(episodes, act_spec)
  length = sum(ep.length + 1 for ep in episodes)
  assert traj.policy_info["dist_params"]["loc"].shape == (1, length, 1)
  np.testing.assert_allclose(traj.policy_info["dist_params"]["scale"].numpy()[0, 0], policy.std)


@pytest.mark.parametrize("batch_steps,mean_length,num_envs,expected", [
    (5000, None, 8, 8),      # before the first iteration: all envs
    (5000, 1000.0, 8, 5),    # InvertedPendulum at its limit: 5 x 1000
    (5000, 500.0, 8, 8),     # CartPole at its limit: 8, then 2 more episodes
    (5000, 20.0, 8, 8),
    (300, 1000.0, 8, 1),
])
def test_start_envs(batch_steps, mean_length, num_envs, expected):
  assert collect.start_envs(batch_steps, mean_length, num_envs) == expected


def test_steps_per_iteration_and_stochastic_returns_are_recorded(tmp_path):
  result = train.train_eval("InvertedPendulum-v4", str(tmp_path), str(tmp_path / "logs"), seed=0,
                            iterations=3, batch_steps=400, num_envs=8, eval_episodes=2)
  assert len(result["steps_per_iteration"]) == 3 and sum(result["steps_per_iteration"]) == result["env_steps"]
  stochastic = result["stochastic_eval_returns"]
  assert len(stochastic) == 4 and stochastic[:3] == result["train_returns"]


@pytest.mark.parametrize("batch_steps", [50, 400])
def test_a_start_fn_s_episodes_head_iteration_1_and_charged_steps_count_once(tmp_path, monkeypatch,
                                                                            batch_steps):
  # The start_fn keeps the fresh initialisation and hands back its own episodes (about 60
  # steps) as the head of iteration 1, charging 7 more steps. With a 50-step batch they are
  # iteration 1's whole batch; with 400 the iteration collects the rest, about 400 in all.
  # Either way each step counts once in env_steps.
  head, batches = [], {}
  def start_fn(discrete, fresh, policy_of, collect_fresh):
    head.extend(collect_fresh(60))
    replayed = collect_fresh(60)  # seeded: a resumed unit gets the same episodes back
    assert [ep.length for ep in replayed] == [ep.length for ep in head]
    assert all(np.array_equal(a.actions, b.actions) for a, b in zip(replayed, head))
    return fresh, 7, head
  train_step = train._Stage.train
  def recording_train(stage, episodes, iteration):
    batches[iteration] = episodes
    return train_step(stage, episodes, iteration)
  monkeypatch.setattr(train._Stage, "train", recording_train)
  result = train.train_eval("CartPole-v1", str(tmp_path), str(tmp_path / "logs"), seed=2,
                            start_fn=start_fn, iterations=2, batch_steps=batch_steps, num_envs=2,
                            eval_episodes=1)
  head_steps = sum(ep.length for ep in head)
  assert head_steps >= 60 and len({ep.env_index for ep in head}) == 1  # one env
  assert all(a is b for a, b in zip(batches[1], head))  # the head, in order, first
  assert not any(ep is h for ep in batches[2] for h in head)
  first_steps = sum(ep.length for ep in batches[1])
  assert result["steps_per_iteration"][0] == first_steps
  assert result["start_env_steps"] == 7
  assert result["env_steps"] == 7 + sum(result["steps_per_iteration"])
  if batch_steps < head_steps:
    assert len(batches[1]) == len(head)
    assert result["train_returns"][0] == pytest.approx(np.mean([ep.total_return for ep in head]))
  else:
    mean_length = first_steps / len(batches[1])
    assert len(batches[1]) > len(head) and abs(first_steps - 400) <= mean_length
