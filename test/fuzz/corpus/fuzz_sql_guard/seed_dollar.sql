SELECT $t$x$$y$t$, $1, "q""i", x'41' -- c
