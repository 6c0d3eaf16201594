"""Spec-driven docs: the revoke endpoint's reference page, rendered from openapi.yaml alone, in
two renderings (`public`: what Layers could publish; `sandbox`: with "Try it against the mock").

`layers-docs` writes them to the current directory (or `--out`); `layers-docs --committed`
regenerates this checkout's copies (docs/reference/, docs/sandbox/), and the mock serves the
sandbox one at /docs. The site's generated pages come from here too (control_reference.py,
bench_plot.py), called by tools/mkdocs/hooks.py when the site is built.
"""
