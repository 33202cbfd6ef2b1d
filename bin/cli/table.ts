/**
 * A plain-text table that streams: rows are printed a hundred at a time, with columns as wide as the
 * widest cell seen so far, so a long listing starts at once and needs no more memory than a page.
 */
export class Table {
  private rows: string[][] = [];
  private widths: number[];
  private headerDone = false;

  constructor(
    private readonly write: (line: string) => Promise<void>,
    private readonly header: string[],
    private readonly rightAligned: boolean[],
  ) {
    this.widths = header.map((cell) => cell.length);
  }

  async add(row: string[]): Promise<void> {
    this.rows.push(row);
    if (this.rows.length >= 100) await this.flush();
  }

  async flush(): Promise<void> {
    for (const row of this.rows) {
      row.forEach((cell, index) => {
        this.widths[index] = Math.max(this.widths[index] ?? 0, cell.length);
      });
    }
    if (!this.headerDone && this.rows.length > 0) {
      await this.write(this.format(this.header));
      this.headerDone = true;
    }
    for (const row of this.rows) await this.write(this.format(row));
    this.rows = [];
  }

  private format(row: string[]): string {
    return row
      .map((cell, index) => {
        const last = index === row.length - 1;
        if (this.rightAligned[index] === true) return cell.padStart(this.widths[index] ?? 0);
        return last ? cell : cell.padEnd(this.widths[index] ?? 0);
      })
      .join('  ');
  }
}
