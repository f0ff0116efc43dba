"""Make the bundled demo's footage: nothing is downloaded.

    python corpora/make_demo.py OUTDIR

writes OUTDIR/demo.mp4 (about 70 s, 640x360, 25 fps, H.264 + AAC): a Bach chorale melody
played in turn by piano, flute, violin, trumpet and marimba (FluidSynth, FluidR3 GM), then a
spoken passage (espeak-ng). Every image shows what sounds at that moment: the instrument, the
note's name, a colour for its pitch class and a keyboard with the key lit; during speech, the
words and a level meter. OUTDIR/demo-input.wav (about 25 s) is other material of the same
kinds: the melody on clarinet at another tempo, then another voice; it is the demo's live
input and a render target. OUTDIR/demo-notes.json holds the ground truth of both.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import mediagen

SR = 48000
FPS = 25
WIDTH, HEIGHT = 640, 360
NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
INSTRUMENTS = [(0, "piano"), (73, "flute"), (40, "violin"), (56, "trumpet"), (12, "marimba")]
SCORE = "bach/bwv66.6"
SPEECH = (
    "Every sound you make picks a picture. Speak, sing or play, and the footage answers. "
    "Low notes, high notes, whispers and shouts each find their own images."
)
INPUT_SPEECH = "Hello livecat. Can you hear me? Now listen to this melody on the clarinet."


def pitch_colour(pitch_class: int) -> tuple[int, int, int]:
    """A colour wheel over the twelve pitch classes (BGR)."""
    hsv = np.uint8([[[pitch_class * 15, 170, 200]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_music(instrument: str, pitches: set[int]) -> np.ndarray:
    colour = pitch_colour(min(pitches) % 12) if pitches else (40, 40, 40)
    image = np.full((HEIGHT, WIDTH, 3), colour, np.uint8)
    cv2.putText(
        image, instrument, (24, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 3, cv2.LINE_AA
    )
    label = " ".join(f"{NAMES[p % 12]}{p // 12 - 1}" for p in sorted(pitches)) or "-"
    cv2.putText(
        image, label, (24, 190), cv2.FONT_HERSHEY_DUPLEX, 3.2, (255, 255, 255), 5, cv2.LINE_AA
    )
    # A two-octave keyboard (C4..B5), sounding keys lit.
    top, key_w = 260, WIDTH // 14
    white = [0, 2, 4, 5, 7, 9, 11]
    for octave in range(2):
        for i, step in enumerate(white):
            x = (octave * 7 + i) * key_w
            lit = (60 + 12 * octave + step) in pitches
            cv2.rectangle(
                image,
                (x, top),
                (x + key_w - 2, HEIGHT - 4),
                (0, 220, 255) if lit else (245, 245, 245),
                -1,
            )
        for i, step in enumerate([1, 3, 6, 8, 10]):
            x = (octave * 7 + [0, 1, 3, 4, 5][i]) * key_w + key_w * 2 // 3
            lit = (60 + 12 * octave + step) in pitches
            cv2.rectangle(
                image,
                (x, top),
                (x + key_w * 2 // 3, top + 60),
                (0, 160, 255) if lit else (20, 20, 20),
                -1,
            )
    return image


def draw_speech(words: str, level: float) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), (60, 30, 30), np.uint8)
    cv2.putText(
        image, "voice", (24, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (255, 255, 255), 3, cv2.LINE_AA
    )
    cv2.putText(
        image, words, (24, 190), cv2.FONT_HERSHEY_DUPLEX, 1.6, (255, 255, 255), 3, cv2.LINE_AA
    )
    width = int(np.clip(level, 0, 1) * (WIDTH - 48))
    cv2.rectangle(image, (24, 260), (24 + width, 300), (80, 220, 80), -1)
    return image


def main(out_dir: Path) -> None:
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "parts"
    work.mkdir(exist_ok=True)
    melody = mediagen.score_notes(SCORE, part=0, tempo_bpm=100, max_duration_s=12.0)
    phrase_s = max(end for _, end, _, _ in melody) + 0.6
    sections, notes_by_time, audio = [], [], []
    t0 = 0.0
    for program, name in INSTRUMENTS:
        sound = mediagen.render_midi_notes(melody, program=program, path_wav=work / f"{name}.wav")[
            : int(phrase_s * SR)
        ]
        sound = np.pad(sound, (0, int(phrase_s * SR) - sound.size))
        audio.append(sound)
        sections.append((t0, t0 + phrase_s, name))
        notes_by_time += [(t0 + s, t0 + e, p, v) for s, e, p, v in melody]
        t0 += phrase_s
    speech = mediagen.speak(SPEECH, voice="en", path_wav=work / "speech.wav", sr_hz=SR)
    audio.append(speech)
    sections.append((t0, t0 + speech.size / SR, "voice"))
    speech_t0 = t0
    sound = np.concatenate(audio).astype(np.float32)
    sound *= 0.7 / max(np.abs(sound).max(), 1e-6)
    words = SPEECH.split()
    frame = SR // FPS

    def draw(k: int, t_s: float) -> np.ndarray:
        name = next((n for start, end, n in sections if start <= t_s < end), "voice")
        if name != "voice":
            return draw_music(name, mediagen.notes_sounding_at(notes_by_time, t_s))
        progress = (t_s - speech_t0) / (speech.size / SR)
        index = min(int(progress * len(words)), len(words) - 1)
        chunk = " ".join(words[max(0, index - 1) : index + 2])
        seg = sound[int(t_s * SR) : int(t_s * SR) + frame]
        level = (20 * np.log10(np.sqrt(np.mean(seg**2)) + 1e-6) + 60) / 60 if seg.size else 0
        return draw_speech(chunk, level)

    duration_s = sound.size / SR
    mediagen.write_video(
        out_dir / "demo.mp4",
        fps=FPS,
        size=(WIDTH, HEIGHT),
        duration_s=duration_s,
        audio=sound,
        sr_hz=SR,
        draw=draw,
    )

    # The input: the melody on clarinet, faster, then another voice.
    clarinet_notes = mediagen.score_notes(SCORE, part=0, tempo_bpm=126, max_duration_s=14.0)
    clarinet = mediagen.render_midi_notes(
        clarinet_notes, program=71, path_wav=work / "clarinet.wav"
    )
    voice = mediagen.speak(INPUT_SPEECH, voice="en-us+f3", path_wav=work / "voice.wav", sr_hz=SR)
    gap = np.zeros(SR // 2, np.float32)
    live_input = np.concatenate([voice, gap, clarinet]).astype(np.float32)
    live_input *= 0.5 / max(np.abs(live_input).max(), 1e-6)
    mediagen.write_audio(out_dir / "demo-input.wav", live_input, sr_hz=SR)
    offset = (voice.size + gap.size) / SR
    (out_dir / "demo-notes.json").write_text(
        json.dumps(
            {
                "demo.mp4": {"sections": sections, "notes": notes_by_time},
                "demo-input.wav": {
                    "voice_s": [0.0, voice.size / SR],
                    "notes": [(s + offset, e + offset, p, v) for s, e, p, v in clarinet_notes],
                },
            },
            indent=1,
        )
    )
    for part in work.iterdir():
        part.unlink()
    work.rmdir()
    print(
        f"wrote {out_dir / 'demo.mp4'} ({duration_s:.0f} s), {out_dir / 'demo-input.wav'} "
        f"({live_input.size / SR:.0f} s), {out_dir / 'demo-notes.json'} "
        f"in {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python corpora/make_demo.py OUTDIR")
    main(Path(sys.argv[1]))
