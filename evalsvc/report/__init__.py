"""The evaluation report (评标报告): its canonical document (``document``), its HTML and
PDF renderings (``render``, ``pdf``), the offline check of a PDF (``verify``), the use-case
that gathers what a reader may see (``service``), the routes and the CLI."""
