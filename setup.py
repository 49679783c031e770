from setuptools import setup

setup(cffi_modules=["host/tinydrift/_ffi_build.py:ffibuilder"])
