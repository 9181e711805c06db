// A growable array of per-frame values starting at a movable first frame (no fixed capacity).

export class FrameWindow<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private start: number;

  constructor(startFrame = 0) {
    this.start = startFrame;
  }

  /** The oldest frame that can still hold a value. */
  get startFrame(): number {
    return this.start;
  }

  /** One past the newest frame that was set (start when empty). */
  get endFrame(): number {
    return this.start + (this.items.length - this.head);
  }

  get(frame: number): T | undefined {
    const i = frame - this.start;
    if (i < 0) return undefined;
    return this.items[this.head + i];
  }

  /** Frames before `startFrame` are ignored: they were dropped on purpose. */
  set(frame: number, value: T | undefined): void {
    const i = frame - this.start;
    if (i < 0) return;
    const idx = this.head + i;
    while (this.items.length < idx) this.items.push(undefined);
    this.items[idx] = value;
  }

  /** Forgets every frame < `frame`. */
  dropBefore(frame: number): void {
    if (frame <= this.start) return;
    const n = Math.min(frame - this.start, this.items.length - this.head);
    for (let k = 0; k < n; k++) this.items[this.head + k] = undefined;
    this.head += n;
    this.start = frame;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 256 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets every frame >= `frame`. */
  truncateFrom(frame: number): void {
    const i = Math.max(0, frame - this.start);
    if (this.head + i < this.items.length) this.items.length = this.head + i;
  }
}
