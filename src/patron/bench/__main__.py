from patron.bench.runner import main

main()
