module github.com/tabshard/tabshard

go 1.26.8
