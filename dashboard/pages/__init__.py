"""The dashboard's pages: each module has PATH, TITLE, layout(ctx), refresh(ctx, ...) and register(app, ctx).

`refresh` is what the page's interval callback calls (and what benchmarks/dashboard_refresh.py times).
"""
