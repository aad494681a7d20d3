"""Speech emotion and speaker gender classification on RAVDESS: the shared helper package.

Data flows one way: files (``datasets``, ``corpus``) → audio (``audio``, ``augment``)
→ features (``features``) → models (``models``, ``training``) → metrics (``evaluation``).
Every path comes from ``helpers.config``.
"""

__version__ = "0.1.0"
