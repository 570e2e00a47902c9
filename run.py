"""Run arrears-guard from a checkout: `python run.py once`, `python run.py watch`."""

from engine.cli import main

if __name__ == "__main__":
    main()
