"""Test-support code: synthetic slide writers (vendor formats, large mosaics, fluorescence) that only the
tests and benchmarks use, kept out of the shipped `pathreasoner` package."""
