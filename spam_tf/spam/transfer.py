"""M_SPAM -> target network: carry a (reconstructed) source policy onto the target's shapes.

Arrays are matched by role (spam_tf.rl.weights.roles). An array whose shape
matches is copied. A mismatched array is handled by a named strategy:

  hidden layers (layer_strategy), e.g. a different observation size:
    'reinit'  keep the target's fresh initialisation;
    'overlap' copy the overlapping block [:min rows, :min cols] into it.
  head (head_strategy), e.g. a categorical source and a Gaussian target:
    'auto'    (default) 'logit_difference' where it applies, else 'overlap':
              a transfer exists for every pair of supported action spaces;
    'reinit'  keep the target's fresh head;
    'overlap' copy the overlapping block of kernel and bias;
    'logit_difference'  2-way categorical <-> 1-D Gaussian: the mean is
              logit_1 - logit_0 (and back: logits -/+ mean / 2), so "prefer
              action 1" becomes "push positive". The Gaussian's std_bias
              always keeps the target's initialisation.
A different number of hidden layers has no strategy: TransferError.

Inter-task mappings (Taylor, Stone and Liu, JMLR 2007), optional, in gin:
  observation_map  per target observation, the index of the source observation
                   it corresponds to (None: no counterpart, the row keeps the
                   target's initialisation); permutes the first layer's rows.
                   E.g. CartPole-v1 [x, x', theta, theta'] -> InvertedPendulum-v4
                   [x, theta, x', theta']: (0, 2, 1, 3).
  action_map       per target action (categorical) or action dimension (Gaussian),
                   the source one it corresponds to (None: target init); permutes
                   the head's columns. Heads of the same kind only.
  observation_map = 'auto': chosen per target unit from experience
                   (spam_tf/spam/auto_map.py), which also flips the signs of axes
                   that point the other way (`with_signs`, not a gin setting).
"""
import gin
import numpy as np

from spam_tf.rl import weights as weights_lib


class TransferError(ValueError):
  """No strategy maps this source onto this target (message is user-facing)."""


def _overlap(source, target_init):
  out = np.array(target_init, np.float32, copy=True)
  block = tuple(slice(0, min(a, b)) for a, b in zip(source.shape, out.shape))
  out[block] = source[block]
  return out


def _logit_difference_applies(source_outputs, source_discrete, target_outputs, target_discrete):
  return ((source_discrete, source_outputs, target_discrete, target_outputs) in
          ((True, 2, False, 1), (False, 1, True, 2)))


def _logit_difference(kernel, bias, source_discrete, target_outputs, target_discrete):
  """Maps a head's (kernel [h, n], bias [n]) between a 2-way categorical and a 1-D Gaussian."""
  if not _logit_difference_applies(kernel.shape[1], source_discrete, target_outputs, target_discrete):
    kind = lambda discrete, n: f"{n}-way categorical" if discrete else f"{n}-D Gaussian"
    raise TransferError(
        f"head strategy 'logit_difference' maps a 2-way categorical to a 1-D Gaussian (or back); "
        f"got {kind(source_discrete, kernel.shape[1])} -> {kind(target_discrete, target_outputs)}: "
        f"use transfer.head_strategy='overlap' or 'reinit'")
  if source_discrete:
    return kernel[:, 1:2] - kernel[:, 0:1], bias[1:2] - bias[0:1]
  return np.concatenate([-kernel / 2, kernel / 2], axis=1), np.concatenate([-bias / 2, bias / 2])


def _mapped(source, target_init, index_map, axis, name):
  """target_init with its entries i along `axis` (rows 0, columns 1) taken from the
  source's index_map[i] (None: kept)."""
  target_size, source_size = target_init.shape[axis], source.shape[axis]
  if len(index_map) != target_size or any(
      i is not None and not (isinstance(i, int) and 0 <= i < source_size) for i in index_map):
    raise TransferError(f"transfer.{name} must list, for each of the target's {target_size} "
                        f"entries, a source index in [0, {source_size}) or None; got {tuple(index_map)}")
  out = np.array(target_init, np.float32, copy=True)
  mapped = [t for t, i in enumerate(index_map) if i is not None]
  # moveaxis gives views: writing through the view fills `out` along `axis`.
  np.moveaxis(out, axis, 0)[mapped] = np.moveaxis(source, axis, 0)[[index_map[t] for t in mapped]]
  return out


def _apply_maps(source_roles, source_discrete, target_roles, target_init, target_discrete,
                observation_map, action_map):
  """Source arrays re-laid into the target's observation / action order; {role: how}."""
  source_roles, how = dict(source_roles), {}
  target = dict(zip(target_roles, target_init))
  if observation_map is not None:
    source_roles["hidden_0/kernel"] = _mapped(source_roles["hidden_0/kernel"], target["hidden_0/kernel"],
                                              observation_map, 0, "observation_map")
    how["hidden_0/kernel"] = "observation_map"
  if action_map is not None:
    if source_discrete != target_discrete:
      raise TransferError("transfer.action_map maps heads of the same kind (categorical to "
                          "categorical, Gaussian to Gaussian)")
    for role in ("head/kernel", "head/bias"):
      source_roles[role] = _mapped(source_roles[role], target[role], action_map, source_roles[role].ndim - 1,
                                   "action_map")
      how[role] = "action_map"
  return source_roles, how


def with_signs(arrays, target_discrete, observation_signs, action_sign):
  """Target arrays with first-layer rows multiplied by observation_signs (+1 / -1 per
  target observation) and, for action_sign -1, the action pointing the other way: a
  Gaussian head's mean negated, a 2-way categorical head's two logits swapped."""
  out = [np.array(a, np.float32, copy=True) for a in arrays]
  out[0] *= np.asarray(observation_signs, np.float32)[:, None]
  if action_sign == -1:
    head = weights_lib.roles(len(out), target_discrete).index("head/kernel")
    if target_discrete and out[head].shape[1] != 2:
      raise TransferError(f"an action sign flips a Gaussian or 2-way categorical head; the target "
                          f"has {out[head].shape[1]} actions")
    flip = (lambda a: a[..., ::-1].copy()) if target_discrete else np.negative
    out[head], out[head + 1] = flip(out[head]), flip(out[head + 1])
  return out


@gin.configurable(denylist=["source", "source_discrete", "target_init", "target_discrete"])
def transfer(source, source_discrete, target_init, target_discrete,
             layer_strategy="reinit", head_strategy="auto", observation_map=None, action_map=None):
  """Builds the target's start arrays.

  source: list of source arrays (spam_tf.rl.weights order), e.g. w^-1(g(w(M*))).
  target_init: the target network's freshly initialised arrays (same order).
  Returns (arrays for the target, {role: how it was filled}).
  """
  if isinstance(observation_map, str):
    raise TransferError(f"transfer.observation_map={observation_map!r}: 'auto' is chosen per target "
                        "unit (spam_tf/spam/auto_map.py), 'twin' is a twin target's true map; "
                        "anything else must list source indices")
  if layer_strategy not in ("reinit", "overlap"):
    raise TransferError(f"unknown layer_strategy {layer_strategy!r} (reinit, overlap)")
  if head_strategy not in ("auto", "reinit", "overlap", "logit_difference"):
    raise TransferError(f"unknown head_strategy {head_strategy!r} "
                        "(auto, reinit, overlap, logit_difference)")
  source_roles = dict(zip(weights_lib.roles(len(source), source_discrete), source))
  target_roles = weights_lib.roles(len(target_init), target_discrete)
  if head_strategy == "auto":
    target_outputs = target_init[target_roles.index("head/kernel")].shape[1]
    head_strategy = ("logit_difference" if _logit_difference_applies(
        source_roles["head/kernel"].shape[1], source_discrete, target_outputs, target_discrete)
                     else "overlap")
  source_hidden = sum(r.startswith("hidden") for r in source_roles) // 2
  target_hidden = sum(r.startswith("hidden") for r in target_roles) // 2
  if source_hidden != target_hidden:
    raise TransferError(f"no transfer strategy fits: the source policy has {source_hidden} hidden "
                        f"layers, the target {target_hidden}; give both the same "
                        "actor_network.fc_layer_params")
  source_roles, how = _apply_maps(source_roles, source_discrete, target_roles, target_init,
                                  target_discrete, observation_map, action_map)
  out = []
  for role, init in zip(target_roles, target_init):
    src = source_roles.get(role)
    if src is not None and src.shape == init.shape and (
        not role.startswith("head") or source_discrete == target_discrete):
      out.append(np.asarray(src, np.float32))
      how.setdefault(role, "copied")
    elif role == "head/std_bias" or src is None:
      out.append(np.asarray(init, np.float32))
      how[role] = "target init"
    else:
      strategy = head_strategy if role.startswith("head") else layer_strategy
      how[role] = strategy
      out.append(np.asarray(init, np.float32) if strategy == "reinit" else _overlap(src, init))
  if how.get("head/kernel") == "logit_difference":
    head = target_roles.index("head/kernel")
    kernel, bias = _logit_difference(source_roles["head/kernel"], source_roles["head/bias"],
                                     source_discrete, target_init[head].shape[1], target_discrete)
    out[head], out[head + 1] = kernel.astype(np.float32), bias.astype(np.float32)
    how["head/bias"] = "logit_difference"
  return out, how
