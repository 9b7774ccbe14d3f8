"""Listening pages: `sscodec listen` writes a static page (no server, no CDN) to hear a model
against Opus and codec2 clip by clip, with A/B switching at the same play position, and an
optional MUSHRA-style blind page whose downloaded ratings `sscodec listen --collect` tabulates.

- build: codes, scores and writes the page (OUT/index.html, mushra.html, audio/, spectrograms/)
- versions: which versions of a clip the page holds, coded through sscodec.evaluation.evaluate's points
- media: FLAC audio, log-mel spectrogram PNGs, the rate-quality plot
- html (+ page.css, player.js, mushra.js): the two pages, CSS and JavaScript inlined
- mushra: the blind trials and the aggregation of ratings files
- browser: a headless Chromium over the DevTools pipe (screenshots, the page's browser test)
"""
