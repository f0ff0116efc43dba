from livecat.cli import main

raise SystemExit(main())
