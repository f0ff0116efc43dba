"""What livecat puts out besides sound: pictures in the OpenCV window or as lines on stdout
when headless (``display``), to other software (``sinks``), and the files a render or a set
leaves for the user (``files``: the match log).

The only package that imports OpenCV's GUI functions. Import its modules by name: a render
needs ``files`` without the live player the display is built on.
"""
