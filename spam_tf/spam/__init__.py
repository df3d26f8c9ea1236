"""SPAM and its start points: what f2 starts from, given a source expert M*.

autoencoder (g), start_points (SPAM and its controls, one function each),
transfer (a source start onto the target network's shapes), metrics (the paper's
zero and sparsity ratios), and beyond the paper genome (an autoencoder over a zoo
of experts) with alignment (weight matching). Built on spam_tf.rl.
"""
