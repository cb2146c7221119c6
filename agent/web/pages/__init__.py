"""The dashboard's pages: one module each with ``setup(app, ctx)``, listed in ``app.PAGE_MODULES``."""
