"""Server-side SVG bar charts: no JavaScript library, no CDN."""
from django.utils.html import escape
from django.utils.safestring import mark_safe

W, H, PAD = 640, 220, 28


def bar_chart(name, title, points, label_every=1):
    top = max((v for _, v in points), default=0) or 1
    n = max(len(points), 1)
    step = (W - 2 * PAD) / n
    parts = ['<svg class="chart" data-chart="%s" viewBox="0 0 %d %d" width="%d" height="%d" '
             'role="img" aria-label="%s">' % (name, W, H, W, H, escape(title)),
             '<text x="%d" y="16" class="title">%s</text>' % (PAD, escape(title))]
    for i, (label, value) in enumerate(points):
        h = (H - 2 * PAD - 10) * value / top
        x = PAD + i * step
        parts.append('<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f">'
                     '<title>%s: %s</title></rect>'
                     % (x + step * 0.1, H - PAD - h, step * 0.8, h, escape(label), value))
        if i % label_every == 0:
            parts.append('<text class="label" x="%.1f" y="%d">%s</text>'
                         % (x + step / 2, H - PAD + 14, escape(label)))
    parts.append("</svg>")
    return mark_safe("".join(parts))
