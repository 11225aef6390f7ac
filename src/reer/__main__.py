from reer.cli import run

run()
