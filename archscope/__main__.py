from archscope.cli.main import main

main()
