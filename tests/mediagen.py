"""Test and benchmark media, generated here: nothing is downloaded.

- videos whose every image carries its own number as a visual code (read back exactly after
  H.264, resizing and JPEG), with any sound, frame rate, size or variable timing;
- tones and note sequences; music from music21's bundled scores rendered by FluidSynth;
  speech from espeak-ng; broken files of every kind a user may have.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
CODE_BITS = 16
_CELLS = CODE_BITS + 2  # a white start guard and a black stop guard around the bits


# -- images that carry their index ------------------------------------------------------------
def encode_index_image(index: int, *, width: int, height: int) -> np.ndarray:
    """A BGR image showing ``index`` (0..65535) as a row of black/white cells across the
    middle band, with the number written below for people."""
    if not 0 <= index < 2**CODE_BITS:
        raise ValueError(f"index {index} does not fit in {CODE_BITS} bits")
    image = np.full((height, width, 3), 128, np.uint8)
    hue = (index * 37) % 180
    image[: height // 4] = cv2.cvtColor(np.uint8([[[hue, 200, 220]]]), cv2.COLOR_HSV2BGR)
    bits = [1] + [(index >> (CODE_BITS - 1 - b)) & 1 for b in range(CODE_BITS)] + [0]
    top, bottom = height // 4, height * 3 // 4
    for i, bit in enumerate(bits):
        x0, x1 = i * width // _CELLS, (i + 1) * width // _CELLS
        image[top:bottom, x0:x1] = 255 if bit else 0
    cv2.putText(
        image,
        str(index),
        (4, height - 6),
        cv2.FONT_HERSHEY_SIMPLEX,
        max(0.3, height / 300),
        (255, 255, 255),
        1,
        cv2.LINE_AA,
    )
    return image


def decode_index_image(image: np.ndarray) -> int:
    """Read the number :func:`encode_index_image` drew; ValueError when it is not there."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    band = gray[height * 3 // 8 : height * 5 // 8].astype(np.float64)
    values = []
    for i in range(_CELLS):
        x0, x1 = i * width / _CELLS, (i + 1) * width / _CELLS
        inner = band[:, int(x0 + 0.3 * (x1 - x0)) : max(int(x1 - 0.3 * (x1 - x0)), int(x0) + 1)]
        values.append(inner.mean())
    bits = [v > 128 for v in values]
    if not bits[0] or bits[-1] or min(abs(v - 128) for v in values) < 40:
        raise ValueError("no index code in this image")
    return int("".join("1" if b else "0" for b in bits[1:-1]), 2)


# -- sound --------------------------------------------------------------------------------------
def tone(
    freq_hz: float, *, duration_s: float, sr_hz: int = 48000, level_db: float = -12.0
) -> np.ndarray:
    """A sine at ``level_db`` dBFS peak."""
    t = np.arange(int(round(duration_s * sr_hz))) / sr_hz
    return (10 ** (level_db / 20) * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def tone_sequence(
    freqs_hz, *, note_s: float, sr_hz: int = 48000, level_db: float = -12.0, fade_s: float = 0.005
) -> np.ndarray:
    """One sine after another, each ``note_s`` long, with short fades (no clicks)."""
    n = int(round(note_s * sr_hz))
    fade = min(int(fade_s * sr_hz), n // 2)
    ramp = np.ones(n, np.float32)
    ramp[:fade] = np.linspace(0, 1, fade)
    ramp[n - fade :] = np.linspace(1, 0, fade)
    notes = [
        tone(f, duration_s=n / sr_hz, sr_hz=sr_hz, level_db=level_db)[:n] * ramp for f in freqs_hz
    ]
    return np.concatenate(notes).astype(np.float32)


def noise(
    *, duration_s: float, sr_hz: int = 48000, level_db: float = -20.0, seed: int = 0
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (10 ** (level_db / 20) * rng.standard_normal(int(duration_s * sr_hz))).astype(np.float32)


def varied_notes(seconds: float, *, seed: int, sr_hz: int = 48000) -> np.ndarray:
    """Short notes of random pitch and timbre: every 85 ms window of it is unique."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sr_hz), np.float32)
    pos = 0
    while pos < out.size:
        n = int(rng.uniform(0.06, 0.14) * sr_hz)
        t = np.arange(n) / sr_hz
        f0 = 110 * 2 ** rng.uniform(0, 4)
        note = sum(rng.uniform(0.1, 1) / h * np.sin(2 * np.pi * f0 * h * t) for h in range(1, 6))
        note *= np.hanning(n) * rng.uniform(0.2, 0.5)
        out[pos : pos + n] += note[: out.size - pos]
        pos += n
    return out


def click_residual(audio: np.ndarray, *, sr_hz: int = 48000, above_hz: float = 12000.0) -> float:
    """Largest sample of ``audio`` above ``above_hz`` (8th-order Butterworth high-pass).

    A click is broadband; test sounds kept below ``above_hz`` leave almost nothing there, so
    this finds a discontinuity even inside busy, high-pitched material, where comparing
    sample-to-sample jumps with the material's own slopes cannot (at 48 kHz a step of 0.01
    leaves ~0.0026). The filter starts settled on the first sample, as if the sound had been
    there before: a cut that begins mid-waveform is not a step from silence."""
    import scipy.signal

    audio = np.asarray(audio, np.float64)
    sos = scipy.signal.butter(8, above_hz, "highpass", fs=sr_hz, output="sos")
    settled = scipy.signal.sosfilt_zi(sos) * audio[0]
    return float(np.abs(scipy.signal.sosfilt(sos, audio, zi=settled)[0]).max())


def spectrogram_similarity(a: np.ndarray, b: np.ndarray, *, n: int = 1024) -> float:
    """Correlation of two sounds' log-magnitude spectrograms (Hann frames of ``n``), floored
    60 dB below the loudest bin: 1 for the same sound, whatever the phase."""
    frames = min(a.size, b.size) // n
    window = np.hanning(n)
    spec_a = np.abs(np.fft.rfft(a[: frames * n].reshape(frames, n) * window, axis=1))
    spec_b = np.abs(np.fft.rfft(b[: frames * n].reshape(frames, n) * window, axis=1))
    floor = 1e-3 * max(spec_a.max(), spec_b.max())
    return float(
        np.corrcoef(np.log10(spec_a + floor).ravel(), np.log10(spec_b + floor).ravel())[0, 1]
    )


# -- files --------------------------------------------------------------------------------------
def _frame_rate(fps: float) -> Fraction:
    """25 -> 25; 29.97 (or 30000/1001 as a float) -> 30000/1001, likewise 23.976 and 59.94."""
    for base in (24, 30, 60):
        if abs(fps - base * 1000 / 1001) < 0.005:
            return Fraction(base * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def read_video_times(path: str | os.PathLike[str]) -> list[float]:
    """``frame.time`` (s) of every image PyAV decodes from the first video stream."""
    with av.open(str(path)) as container:
        return [frame.time for frame in container.decode(video=0)]


def write_video(
    path: str | os.PathLike[str],
    *,
    fps: float | None = 25.0,
    size: tuple[int, int] = (320, 240),
    duration_s: float,
    audio: np.ndarray | None = None,
    sr_hz: int = 48000,
    vfr_pts_s: np.ndarray | None = None,
    codec: str = "libx264",
    draw: Callable[[int, float], np.ndarray] | None = None,
    options: dict[str, str] | None = None,
    audio_codec: str = "aac",
    display_rotation_deg: float = 0.0,
    display_hflip: bool = False,
    pixel_aspect: Fraction | None = None,
    bt709: bool = False,
) -> list[float]:
    """Encode a video whose image k shows :func:`encode_index_image` (k).

    The container follows the suffix (.mp4, .mov, .mkv, ...); sound and pictures are
    interleaved in time order, as in real files.

    Parameters
    ----------
    fps : float, optional
        Constant rate in images/s (29.97, 23.976 and 59.94 mean 30000/1001 and friends);
        ``floor(duration_s * fps)`` images.  Ignored with ``vfr_pts_s``.
    size : (int, int)
        (width, height) in pixels, even for yuv420p.
    duration_s : float
        Length of the picture track in seconds (not used with ``vfr_pts_s``).
    audio : ndarray (n,) or (n, 2), optional
        Sound in ±1 at ``sr_hz`` Hz, written in full; None writes no audio track.
    vfr_pts_s : ndarray, optional
        Explicit, increasing presentation time (s) of every image (variable frame rate),
        stored on a 1/90000 s clock (Matroska rounds to 1 ms).
    codec : str
        Video encoder (libx264, mpeg4, libvpx-vp9, ...).
    draw : callable(k, t_s) -> BGR image, optional
        Draws image k (shown at t_s) instead of its index code.
    options : dict, optional
        Encoder options; default ``{"crf": "18", "preset": "veryfast"}`` for libx264.
    audio_codec : str
        ``aac``; ``pcm_s16le`` (lossless) works in .mov and .mkv, ``flac`` in .mkv.
    display_rotation_deg, display_hflip : float, bool
        A display matrix, as phones write one: players show the stored pictures turned
        this many degrees counter-clockwise (and mirrored). None is written for 0, False.
    pixel_aspect : Fraction, optional
        Width of a pixel as shown, in heights (the sample aspect ratio): 64/45 for a 16:9
        PAL DVD. None writes square pixels.
    bt709 : bool
        Convert the images to YUV with the BT.709 matrix and tag the stream so, as HD
        cameras do; False converts with BT.601 and leaves the stream untagged.

    Returns
    -------
    list of float
        Presentation time (s) of each image exactly as PyAV decodes it (``frame.time``);
        checked to be within 1 ms of the requested times.
    """
    path = Path(path)
    width, height = size
    if vfr_pts_s is not None:
        time_base = Fraction(1, 90000)
        pts_ticks = [int(round(t * 90000)) for t in vfr_pts_s]
        if np.any(np.diff(pts_ticks) <= 0):
            raise ValueError("vfr_pts_s must increase by more than 1/90000 s per image")
        rate = Fraction(25)
    else:
        if fps is None:
            raise ValueError("give fps or vfr_pts_s")
        rate = _frame_rate(fps)
        count = int(np.floor(duration_s * rate + 1e-9))
        time_base = 1 / rate
        pts_ticks = list(range(count))
    if options is None:
        options = {"crf": "18", "preset": "veryfast"} if codec == "libx264" else {}
    audio_frames: list[av.AudioFrame] = []
    if audio is not None:
        data = np.atleast_2d(np.asarray(audio, np.float32).T)  # (channels, n)
        layout = "stereo" if data.shape[0] == 2 else "mono"
        for start in range(0, data.shape[1], 1024):
            chunk = np.ascontiguousarray(data[:, start : start + 1024])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = sr_hz
            frame.pts = start
            frame.time_base = Fraction(1, sr_hz)
            audio_frames.append(frame)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height = width, height
        video.pix_fmt = "yuv420p"
        video.time_base = time_base
        video.codec_context.time_base = time_base
        video.codec_context.options = dict(options)
        if bt709:
            video.codec_context.colorspace = av.video.reformatter.Colorspace.ITU709
        if pixel_aspect is not None:
            video.codec_context.sample_aspect_ratio = pixel_aspect
        if display_rotation_deg or display_hflip:
            video.set_display_rotation(display_rotation_deg, hflip=display_hflip)
        astream = None
        if audio is not None:
            astream = container.add_stream(audio_codec, rate=sr_hz, layout=layout)
        pending = iter(audio_frames)
        next_audio = next(pending, None)
        for k, tick in enumerate(pts_ticks):
            t_s = tick * float(time_base)
            while next_audio is not None and next_audio.pts / sr_hz <= t_s:
                container.mux(astream.encode(next_audio))
                next_audio = next(pending, None)
            if draw is None:
                image = encode_index_image(k, width=width, height=height)
            else:
                image = draw(k, t_s)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            if bt709:
                frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709")
            frame.pts = tick
            frame.time_base = time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        while next_audio is not None:
            container.mux(astream.encode(next_audio))
            next_audio = next(pending, None)
        if astream is not None:
            container.mux(astream.encode(None))
    wanted = [tick * float(time_base) for tick in pts_ticks]
    times = read_video_times(path)
    if len(times) != len(wanted) or any(
        abs(a - b) > 1e-3 for a, b in zip(times, wanted, strict=True)
    ):
        raise RuntimeError(f"{path}: wrote {len(wanted)} images, decoded {len(times)} other times")
    return times


def write_audio(path: str | os.PathLike[str], audio: np.ndarray, *, sr_hz: int) -> None:
    """WAV (16-bit), FLAC, M4A (AAC) or MP3 by suffix; mono (n,) or stereo (n, 2) in ±1."""
    path = Path(path)
    codecs = {".wav": "pcm_s16le", ".flac": "flac", ".m4a": "aac", ".mp3": "libmp3lame"}
    codec = codecs[path.suffix.lower()]
    data = np.atleast_2d(np.clip(np.asarray(audio, np.float32), -1, 1).T)  # (channels, n)
    layout = "stereo" if data.shape[0] == 2 else "mono"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=sr_hz, layout=layout)
        for start in range(0, data.shape[1], 1024):
            chunk = np.ascontiguousarray(data[:, start : start + 1024])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = sr_hz
            frame.pts = start
            frame.time_base = Fraction(1, sr_hz)
            container.mux(stream.encode(frame))  # PyAV converts to the codec's format
        container.mux(stream.encode(None))


def two_language_film(
    path: str | os.PathLike[str],
    *,
    freqs_hz: tuple[float, float] = (330.0, 523.0),
    duration_s: float = 1.5,
    sr_hz: int = 48000,
    video_size: tuple[int, int] | None = None,
    fps: int = 25,
) -> None:
    """An MKV with two audio streams, as a film with a dub: a tone at ``freqs_hz[0]``
    ("eng", stream #0) and one at ``freqs_hz[1]`` ("deu", #1); with ``video_size``, also
    H.264 pictures that carry their index (:func:`encode_index_image`)."""
    with av.open(str(path), "w") as container:
        video = None
        if video_size is not None:
            video = container.add_stream("libx264", rate=fps)
            video.width, video.height = video_size
            video.pix_fmt = "yuv420p"
        streams = []
        for language in ("eng", "deu"):
            stream = container.add_stream("flac", rate=sr_hz, layout="mono")
            stream.metadata["language"] = language
            streams.append(stream)
        if video is not None:
            for k in range(int(round(duration_s * fps))):
                image = encode_index_image(k, width=video_size[0], height=video_size[1])
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                frame.pts = k
                container.mux(video.encode(frame))
            container.mux(video.encode(None))
        for stream, freq in zip(streams, freqs_hz, strict=True):
            sound = tone(freq, duration_s=duration_s, sr_hz=sr_hz)
            for start in range(0, sound.size, 1024):
                frame = av.AudioFrame.from_ndarray(
                    sound[None, start : start + 1024], format="fltp", layout="mono"
                )
                frame.sample_rate, frame.pts = sr_hz, start
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))


def read_audio(path: str | os.PathLike[str], *, sr_hz: int = 48000) -> np.ndarray:
    """Any file's first audio stream as mono float32 at ``sr_hz``."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sr_hz)
    chunks = []
    with av.open(str(path)) as f:
        for frame in f.decode(audio=0):
            chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(frame)]
    chunks += [r.to_ndarray().reshape(-1) for r in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


# -- music and speech ---------------------------------------------------------------------------
Note = tuple[float, float, int, int]  # start_s, end_s, midi pitch, velocity


def score_notes(
    score: str = "bach/bwv66.6",
    *,
    part: int | None = 0,
    tempo_bpm: float,
    max_duration_s: float | None = None,
) -> list[Note]:
    """Notes of a score from music21's bundled corpus (nothing is downloaded).

    Parameters
    ----------
    score : str
        A bundled work, e.g. ``"bach/bwv66.6"``, ``"bach/bwv269"``, ``"bach/bwv1.6"``.
    part : int or None
        Part index (0 = soprano in the chorales); None takes all parts (chords).
    tempo_bpm : float
        Quarter notes per minute; the score's own tempo marks are ignored.
    max_duration_s : float, optional
        Notes starting at or after this time (s) are dropped, later ends cut to it.

    Returns
    -------
    list of (start_s, end_s, midi_pitch, velocity)
        Sorted; tied notes merged into one, grace notes dropped, repeats not expanded,
        velocity 90.
    """
    import music21

    parsed = music21.corpus.parse(score)
    parts = parsed.parts if part is None else [parsed.parts[part]]
    seconds_per_quarter = 60.0 / tempo_bpm
    notes: list[Note] = []
    for p in parts:
        for element in p.stripTies().flatten().notes:
            start = float(element.offset) * seconds_per_quarter
            end = start + float(element.quarterLength) * seconds_per_quarter
            if end <= start or (max_duration_s is not None and start >= max_duration_s):
                continue
            if max_duration_s is not None:
                end = min(end, max_duration_s)
            for pitch in element.pitches:
                notes.append((start, end, int(pitch.midi), 90))
    return sorted(notes)


def notes_sounding_at(notes: list[Note], t_s: float) -> set[int]:
    return {pitch for start, end, pitch, _ in notes if start <= t_s < end}


def _write_midi(notes: list[Note], path: Path, *, program: int, channel: int = 0) -> None:
    """A type-0 standard MIDI file (480 ticks per quarter at 120 bpm = 960 ticks/s), every
    note and the program change on ``channel`` (0-based)."""
    if not 0 <= channel <= 15:
        raise ValueError(f"MIDI channel must be 0..15, got {channel}")
    events = []
    for start, end, pitch, velocity in notes:
        on, off = int(round(start * 960)), int(round(end * 960))
        if off <= on:  # a note-off sorted before its note-on would leave it hanging
            continue
        events.append((on, 1, bytes([0x90 | channel, pitch & 0x7F, min(max(velocity, 1), 127)])))
        events.append((off, 0, bytes([0x80 | channel, pitch & 0x7F, 0])))
    events.sort()
    track = bytearray(b"\x00\xff\x51\x03\x07\xa1\x20")  # tempo 500000 us per quarter
    track += bytes([0x00, 0xC0 | channel, program & 0x7F])
    now = 0
    for tick, _, message in events:
        delta = tick - now
        now = tick
        var = [delta & 0x7F]
        while delta > 0x7F:
            delta >>= 7
            var.insert(0, (delta & 0x7F) | 0x80)
        track += bytes(var) + message
    track += b"\x00\xff\x2f\x00"
    header = (
        b"MThd"
        + (6).to_bytes(4, "big")
        + (0).to_bytes(2, "big")
        + (1).to_bytes(2, "big")
        + (480).to_bytes(2, "big")
    )
    path.write_bytes(header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track))


def _fluidsynth(
    notes: list[Note],
    *,
    program: int,
    channel: int,
    sr_hz: int,
    soundfont: str,
    reverb: bool = True,
) -> np.ndarray:
    """FluidSynth's rendering of ``notes``, mono, as long as FluidSynth makes it."""
    with tempfile.TemporaryDirectory() as tmp:
        midi = Path(tmp) / "notes.mid"
        raw = Path(tmp) / "raw.wav"
        _write_midi(notes, midi, program=program, channel=channel)
        subprocess.run(
            [
                "fluidsynth",
                "-ni",
                "-q",
                "-g",
                "0.8",
                "-r",
                str(sr_hz),
                *([] if reverb else ["-R", "0"]),
                "-F",
                str(raw),
                soundfont,
                str(midi),
            ],
            check=True,
            capture_output=True,
        )
        return read_audio(raw, sr_hz=sr_hz)


def _fit(audio: np.ndarray, length: int) -> np.ndarray:
    """``audio`` cut or padded with silence to ``length`` samples."""
    return np.pad(audio, (0, max(0, length - audio.size)))[:length]


def render_midi_notes(
    notes: list[Note],
    *,
    program: int,
    path_wav: str | os.PathLike[str],
    sr_hz: int = 48000,
    soundfont: str = SOUNDFONT,
) -> np.ndarray:
    """Play ``notes`` on General MIDI ``program`` with FluidSynth; writes and returns the
    mono sound, as long as the notes plus 0.5 s of release."""
    audio = _fluidsynth(notes, program=program, channel=0, sr_hz=sr_hz, soundfont=soundfont)
    audio = _fit(audio, int((max(end for _, end, _, _ in notes) + 0.5) * sr_hz))
    write_audio(path_wav, audio, sr_hz=sr_hz)
    return audio


# MIDI channel 10 (0-based 9): General MIDI's percussion channel, whose notes are drum sounds
# (36 kick, 38 snare, 42 closed hi-hat, ...) and whose program change picks a kit (bank 128).
DRUM_CHANNEL = 9
# The drum kits FluidR3_GM.sf2 has (bank 128 program numbers, from its preset list; it also
# has numbered variants such as "Standard 1".."Standard 7").
GM_KITS = {
    "standard": 0,
    "room": 8,
    "power": 16,
    "electronic": 24,
    "tr-808": 25,
    "jazz": 32,
    "brush": 40,
    "orchestra": 48,
}


def render_drum_hits(
    hits: list[tuple[float, int, int]],
    *,
    kit: int,
    path_wav: str | os.PathLike[str],
    sr_hz: int = 48000,
    tail_s: float = 1.0,
    soundfont: str = SOUNDFONT,
) -> np.ndarray:
    """Play drum ``hits`` (start_s, GM drum note, velocity) on ``kit`` (:data:`GM_KITS`) on
    MIDI channel 10 with FluidSynth; writes and returns the mono sound, lasting until
    ``tail_s`` after the last hit so its ring is kept.

    Dry: FluidSynth's reverb swells again about 155 ms after a loud hit, a second attack the
    MIDI does not have. Each hit is sent as a 50 ms note: a longer one could end a later hit
    of the same drum (a note-off stops every voice of its key), and the kits' release lets a
    drum ring on after it (cymbal tails within 2 dB of a 2 s note's)."""
    notes = sorted((t, t + 0.05, pitch, velocity) for t, pitch, velocity in hits)
    audio = _fluidsynth(
        notes,
        program=kit,
        channel=DRUM_CHANNEL,
        sr_hz=sr_hz,
        soundfont=soundfont,
        reverb=False,
    )
    audio = _fit(audio, int((max(t for t, _, _ in hits) + tail_s) * sr_hz))
    write_audio(path_wav, audio, sr_hz=sr_hz)
    return audio


def speak(
    text: str,
    *,
    voice: str = "en",
    path_wav: str | os.PathLike[str],
    sr_hz: int = 48000,
    speed_wpm: int = 160,
) -> np.ndarray:
    """espeak-ng reading ``text``; writes and returns mono sound at ``sr_hz``."""
    path_wav = Path(path_wav)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed_wpm), "-w", str(raw), text],
            check=True,
            capture_output=True,
        )
        audio = read_audio(raw, sr_hz=sr_hz)
    write_audio(path_wav, audio, sr_hz=sr_hz)
    return audio


# -- broken files -------------------------------------------------------------------------------
def write_broken_files(directory: str | os.PathLike[str]) -> dict[str, Path]:
    """Every kind of bad input: not media, truncated, empty, video without sound, sound
    without video, unreadable (mode 000: note that root reads it anyway)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = {}
    out["not-media"] = d / "notes.mp4"
    out["not-media"].write_text("this is a text file, not a video\n" * 20)
    good = d / ".whole.mp4"
    write_video(
        good, fps=25, size=(160, 120), duration_s=2.0, audio=tone(440, duration_s=2.0), sr_hz=48000
    )
    data = good.read_bytes()
    out["truncated"] = d / "truncated.mp4"
    out["truncated"].write_bytes(data[: int(len(data) * 0.4)])
    good.unlink()
    out["empty"] = d / "empty.mp4"
    out["empty"].write_bytes(b"")
    out["no-audio"] = d / "silent-film.mp4"
    write_video(out["no-audio"], fps=25, size=(160, 120), duration_s=1.0, audio=None)
    out["audio-only"] = d / "song.m4a"
    write_audio(out["audio-only"], tone(330, duration_s=1.0), sr_hz=48000)
    out["unreadable"] = d / "locked.mp4"
    shutil.copy(out["no-audio"], out["unreadable"])
    out["unreadable"].chmod(0)
    return out


def notes_corpus(
    directory: str | os.PathLike[str],
    *,
    seconds: float = 6.0,
    seed: int = 4,
    size: tuple[int, int] = (160, 120),
    name: str = "a.mp4",
    sr_hz: int = 48000,
) -> Path:
    """A one-video corpus of varied notes (25 fps), the live tests' usual footage; returns
    the corpus directory (``directory/corpus``)."""
    from livecat.corpus import build_corpus

    directory = Path(directory)
    sound = varied_notes(seconds, seed=seed, sr_hz=sr_hz)
    write_video(directory / name, fps=25, size=size, duration_s=seconds, audio=sound, sr_hz=sr_hz)
    build_corpus([directory / name], directory / "corpus")
    return directory / "corpus"
