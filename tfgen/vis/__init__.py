"""Visualisation: PNG image grids (`grid`), GRAN canvases and chain
animations as PNG panels and GIFs (`canvas`), PIL line plots of training
gradient norms and MCMC traces (`plots`), and tf-keras-vis wrappers for
what an energy net responds to (`attribution`: saliency maps, activation
maximisation)."""
