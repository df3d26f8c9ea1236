"""Evaluates an exported policy (a TF-Agents PolicySaver SavedModel) on a gymnasium env.

The SavedModel is loaded with plain `tf.saved_model.load`, as any TensorFlow
user would, and run greedily (PolicySaver exports the agent's greedy policy)
for complete episodes by the training collector, in chunks of up to MAX_ENVS
envs (env i of chunk k reset with a seed derived from (seed, k, i)).
"""
import os

import numpy as np
import tensorflow as tf
from tf_agents.trajectories import time_step as ts

from spam_tf import files
from spam_tf.rl import collect
from spam_tf.rl import envs as envs_lib
from spam_tf.terminal.console import first_line


MAX_ENVS = 10  # envs stepped together; more episodes run in chunks


class PolicyLoadError(ValueError):
  """The path holds no usable policy for this env (message is one line)."""


def load_policy(path):
  """Loads a PolicySaver SavedModel; PolicyLoadError if `path` is not one."""
  if not os.path.isdir(path):
    raise PolicyLoadError(f"no SavedModel directory at {path}")
  if not tf.saved_model.contains_saved_model(path):
    raise PolicyLoadError(f"{path} is not a SavedModel (no saved_model.pb)")
  try:
    policy = tf.saved_model.load(path)
  except Exception as e:  # pylint: disable=broad-except  (TF raises many types for bad files)
    raise PolicyLoadError(f"cannot load the SavedModel at {path} ({type(e).__name__})") from None
  if "action" not in policy.signatures or not hasattr(policy, "action"):
    raise PolicyLoadError(f"{path} is a SavedModel but not a TF-Agents policy (no 'action' signature)")
  return policy


def env_id_beside(saved_model_dir):
  """The env id in the result.json next to a stage's saved_model/, or None."""
  result_path = os.path.join(os.path.dirname(os.path.abspath(saved_model_dir)), "result.json")
  return files.read_json(result_path).get("env_id") if os.path.isfile(result_path) else None


def act_fn(policy, env):
  """obs [B, obs_dim] -> actions [B, ...] in spec form; checks the policy fits env first."""
  observation_shape = policy.signatures["action"].structured_input_signature[1]
  observation_shape = [spec.shape[1:] for name, spec in observation_shape.items()
                       if name.endswith("observation")][0]
  expected = envs_lib.observation_spec(env).shape
  if tuple(observation_shape) != tuple(expected):
    raise PolicyLoadError(f"the policy takes observations of shape {tuple(observation_shape)}, "
                          f"{env.spec.id} gives {tuple(expected)}")
  action_spec = envs_lib.action_spec(env)

  def raw_actions(obs):
    return policy.action(ts.restart(tf.constant(obs), batch_size=len(obs))).action.numpy()

  sample = raw_actions(np.zeros((1,) + tuple(expected), np.float32))
  discrete = np.issubdtype(action_spec.dtype, np.integer)
  if sample.shape[1:] != action_spec.shape or np.issubdtype(sample.dtype, np.integer) != discrete:
    raise PolicyLoadError(f"the policy's actions (shape {sample.shape[1:]}, {sample.dtype}) do not "
                          f"fit {env.spec.id}'s action space {env.action_space}")
  return lambda obs: raw_actions(obs).astype(action_spec.dtype, copy=False)


def evaluate(saved_model_dir, env_id, episodes, seed):
  """Returns {"env_id", "episodes", "seed", "returns" [episodes], "mean_return", "lengths"}.

  env_id None: the env in the result.json beside the SavedModel.
  """
  policy = load_policy(saved_model_dir)
  env_id = env_id or env_id_beside(saved_model_dir)
  if env_id is None:
    raise PolicyLoadError(f"no result.json beside {saved_model_dir} names its env: pass --env")
  collector = collect.EpisodeCollector(env_id, min(episodes, MAX_ENVS))
  act = act_fn(policy, collector.envs[0])
  finished = []
  try:
    # Chunks of up to MAX_ENVS envs, one episode each; chunk k seeded derive_seed(seed, k).
    for chunk, first in enumerate(range(0, episodes, MAX_ENVS)):
      episodes_in_chunk = collector.collect(act, 0, collect.derive_seed(seed, chunk))
      episodes_in_chunk.sort(key=lambda ep: ep.env_index)
      finished += episodes_in_chunk[:episodes - first]
  except (AssertionError, ValueError) as e:  # gymnasium's checks of an action it cannot take
    raise PolicyLoadError(f"the policy's actions do not fit {env_id}: {first_line(e)}") from None
  finally:
    collector.close()
  returns = [ep.total_return for ep in finished]
  return {"env_id": env_id, "episodes": episodes, "seed": seed, "returns": returns,
          "mean_return": float(np.mean(returns)), "lengths": [ep.length for ep in finished]}
