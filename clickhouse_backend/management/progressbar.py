"""A one-line progress bar on a terminal stream, for management commands fed by
the driver's progress updates (``execute(sql, progress=bar.update)``) or by
counts the command knows itself (``bar.count(done, total)``)."""
import time


def _size(n):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


class ProgressBar:
    def __init__(self, out, width=30):
        self.out = out
        self.width = width
        self.start = time.monotonic()
        self.shown = False

    def _draw(self, done, total, tail):
        if total:
            frac = min(done / total, 1.0)
            filled = int(self.width * frac)
            bar = "[%s%s] %3d%% %d/%d" % ("#" * filled, "." * (self.width - filled), 100 * frac, done, total)
        else:  # the total is not known (yet)
            bar = "%d" % done
        self.out.write(f"\r{bar}{tail}")
        self.out.flush()
        self.shown = True

    def count(self, done, total, what=""):
        self._draw(done, total, f" {what}" if what else "")

    def update(self, progress):
        """A driver Progress: rows written for an INSERT, else rows read against the
        server's total (which may still grow)."""
        if progress.written_rows and not progress.read_rows:
            done, total, what, size = progress.written_rows, 0, "rows written", progress.written_bytes
        else:
            done, total, what, size = progress.read_rows, progress.total_rows_to_read, "rows read", progress.read_bytes
        elapsed = progress.elapsed_ns / 1e9 if progress.elapsed_ns else time.monotonic() - self.start
        self._draw(done, total, f" {what}, {_size(size)}, {elapsed:.1f} s")

    def finish(self):
        if self.shown:
            self.out.write("\n")
            self.out.flush()
            self.shown = False
