from archscope.cli.main import run

run()
