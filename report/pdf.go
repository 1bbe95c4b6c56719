package report

import (
	"bytes"
	"fmt"
	"time"

	"codeberg.org/go-pdf/fpdf"
)

// PDF renders the report as one A4 page: the period, the figures' table and, when the period
// has NAV points, a chart of the share price. Uncompressed (its text can be searched) and dated
// by the period's end (fpdf still orders the font dictionary as a map: two renderings may differ
// in that order).
func (rep *Report) PDF() ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(false)
	at := time.Unix(rep.p.To, 0).UTC()
	pdf.SetCreationDate(at)
	pdf.SetModificationDate(at)
	title := "Paimon Edge " + rep.p.Name()
	pdf.SetTitle(title, false)
	pdf.SetCreator("paimon", false)
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 15)
	pdf.CellFormat(0, 9, title, "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 9)
	pdf.CellFormat(0, 5, fmt.Sprintf("Period %s to %s (UTC). Amounts in base units (18 decimals); share price 1.0 = par.",
		rep.Period.From, rep.Period.To), "", 1, "L", false, 0, "")
	if !rep.Closed {
		pdf.CellFormat(0, 5, "The period is not over: its figures are those of the latest block applied.", "", 1, "L", false, 0, "")
	}
	pdf.Ln(2)
	if len(rep.Nav) > 1 {
		navChart(pdf, rep.Nav)
	}
	pdf.SetFont("Courier", "", 8)
	for _, c := range rep.Columns()[3:] {
		v := c.Value
		if v == "" {
			v = "null"
		}
		pdf.CellFormat(80, 4.2, c.Name, "B", 0, "L", false, 0, "")
		pdf.CellFormat(100, 4.2, v, "B", 1, "R", false, 0, "")
	}
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// navChart draws the share price over the period as a line in a framed box.
func navChart(pdf *fpdf.Fpdf, pts []NavPoint) {
	const x0, w, h = 20.0, 170.0, 50.0
	y0 := pdf.GetY() + 2
	lo, hi := pts[0].SharePrice, pts[0].SharePrice
	for _, p := range pts {
		lo, hi = min(lo, p.SharePrice), max(hi, p.SharePrice)
	}
	if hi == lo {
		hi, lo = hi+0.0001, lo-0.0001
	}
	t0, t1 := float64(pts[0].Time), float64(pts[len(pts)-1].Time)
	if t1 == t0 {
		t1 = t0 + 1
	}
	pdf.SetFont("Helvetica", "B", 9)
	pdf.Text(x0, y0, "NAV (share price)")
	y0 += 2
	pdf.SetDrawColor(160, 160, 160)
	pdf.SetLineWidth(0.2)
	pdf.Rect(x0, y0, w, h, "D")
	pdf.SetFont("Helvetica", "", 7)
	pdf.Text(x0+1, y0+3, fmt.Sprintf("%.6f", hi))
	pdf.Text(x0+1, y0+h-1, fmt.Sprintf("%.6f", lo))
	pdf.Text(x0, y0+h+3, time.Unix(pts[0].Time, 0).UTC().Format("2006-01-02 15:04"))
	pdf.Text(x0+w-24, y0+h+3, time.Unix(pts[len(pts)-1].Time, 0).UTC().Format("2006-01-02 15:04"))
	pdf.SetDrawColor(20, 70, 160)
	pdf.SetLineWidth(0.4)
	px := func(p NavPoint) (float64, float64) {
		return x0 + (float64(p.Time)-t0)/(t1-t0)*w, y0 + h - (p.SharePrice-lo)/(hi-lo)*h
	}
	ax, ay := px(pts[0])
	for _, p := range pts[1:] {
		bx, by := px(p)
		pdf.Line(ax, ay, bx, by)
		ax, ay = bx, by
	}
	pdf.SetDrawColor(0, 0, 0)
	pdf.SetXY(10, y0+h+6)
}
