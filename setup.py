"""Builds ember.dispatch._fast, the dispatcher's native fast path, as part of a plain pip install.

The extension is optional: without a C compiler the install still succeeds and Ember runs its Python
dispatcher alone (ember.dispatch.fast.enabled() is then False).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("ember.dispatch._fast", ["core/dispatch/_fast.c"], optional=True,
                  extra_compile_args=["-O2", "-std=c11", "-Werror=implicit-function-declaration"]),
    ],
)
