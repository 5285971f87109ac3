"""Visualisation: PNG image grids (`grid`) and tf-keras-vis wrappers for
what an energy net responds to (`attribution`: saliency maps, activation
maximisation). There are no chain animations: the trainer saves each grid
size's samples as PNG grids (`samples/stepNNNNNNN_gridG.png`) and
`apps.sample` an .npz of every grid plus a PNG grid of the finest."""
