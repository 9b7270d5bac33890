"""globus-sim: a faithful local emulator of the Globus services globus-fuse talks to.

One process serves, over loopback HTTPS only:

* Transfer API v0.10 (``/v0.10/...``)           -- reference globus-api.md section 1
* Globus Auth native-app flow (``/v2/...``)       -- reference section 3
* a control API for tests (``/control/...``)     -- see README.md
* one HTTPS data server per collection (GCS v5)  -- reference section 4

Everything lives in one :class:`globus_sim.sim.Sim` object; there is no other module-level
mutable state. Standard library only.
"""

__version__ = "1.0"
