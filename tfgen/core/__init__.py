"""What every other package builds on, and which imports none of them.

`seeds` (the named salts and the run seed's split), `settings` (declaring
and checking a config setting once) and `losses` (paired GAN losses). They
live below `tfgen.models` so that the models can use them while
`tfgen.families` and `tfgen.config`, above the models, import the models.
"""
