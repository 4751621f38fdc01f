// Loads of one view can overlap: a filter changed while a refresh is on its way, a drawer opened on
// another row.  Answers arrive in any order, so the newest load, not the last answer, is what shows.

export class LatestLoad {
  constructor() {
    this.count = 0;
  }

  /** Start a load; the returned check stays true until a newer load begins or `supersede()` is called. */
  begin() {
    this.count += 1;
    const mine = this.count;
    return () => mine === this.count;
  }

  /** Drop the answer of every load in flight (the view was closed). */
  supersede() {
    this.count += 1;
  }
}
