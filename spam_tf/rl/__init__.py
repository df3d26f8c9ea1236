"""The RL layer: f1 and f2 of Algorithm 1, one (env, seed, stage) at a time.

envs (gymnasium as TF-Agents specs), policy (the actor's forward pass in numpy),
collect (batched episodes), agents (REINFORCE, PPO), weights (w and w^-1: a policy's
weights as one vector), curves (when a learning curve reaches a return),
checkpoints and train (train_eval: collect, train, evaluate, checkpoint, log),
evaluate (an exported SavedModel on an env). Nothing here knows about SPAM.
"""
