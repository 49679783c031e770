from setuptools import setup

setup(cffi_modules=["host/tinydrift/core/_ffi_build.py:ffibuilder"])
