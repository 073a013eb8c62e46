"""The synthetic spectrogram task of stages/deep/tests/generalises.rs in PyTorch, with
cnn2d's layers (conv 3x3 + BN + ReLU + max-pool 2, 8/16/32 channels, mean over time and bins,
hidden 128 + dropout 0.3 + linear), the same data sizes, frame pooling, 100-frame windows, AdamW
(lr 1e-3, wd 1e-2), 2 warm-up epochs then cosine, batch 32. Prints (mean training loss,
held-out accuracy) with and without dropout in the conv blocks, and at 16 epochs.

    target/nkululeko-venv/bin/python benches/torch_synthetic_cnn2d.py   (torch 2.15, 2 threads)
"""
import math, sys, numpy as np, torch, torch.nn as nn
torch.set_num_threads(2)
B=64
def spectrogram(c, rng):
    frames = rng.integers(150, 300); gain = rng.uniform(-3,3); tilt = rng.uniform(-0.03,0.03)
    span = frames*3//5; start = rng.integers(0, frames-span); low = rng.integers(4,50)
    v = gain + tilt*np.arange(B)[None,:] + rng.uniform(-1,1,(frames,B))
    for k in range(span):
        t = start+k
        if c==0: lit = range(low, low+6)
        elif c==1: b = low//2 + k*24//span; lit = range(b,b+5)
        elif c==2: b = low//2 + 24 - k*24//span; lit = range(b,b+5)
        else: lit = range(low, low+6) if (k//8)%2==0 else []
        for b in lit: v[t,b]+=2.5
    return v.astype(np.float32)
def make(n, seed):
    rng = np.random.default_rng(seed); X=[];Y=[]
    for i in range(n*4): X.append(spectrogram(i%4, rng)); Y.append(i%4)
    return X, np.array(Y)
def pool2(x): n=x.shape[0]//2; return x[:2*n].reshape(n,2,B).mean(1)
class Net(nn.Module):
    def __init__(s, ch=(8,16,32), block_dropout=0.0):
        super().__init__(); L=[]; cin=1
        for c in ch: L+= [nn.Conv2d(cin,c,3,padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)] + ([nn.Dropout(block_dropout)] if block_dropout else []); cin=c
        s.f=nn.Sequential(*L); s.h=nn.Sequential(nn.Linear(cin,128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128,4))
    def forward(s,x): return s.h(s.f(x[:,None]).mean((2,3)))
def run(epochs=8, block_dropout=0.0, seed=0):
    torch.manual_seed(seed); rng=np.random.default_rng(seed)
    X,Y = make(100,1); TX,TY = make(20,2)
    X=[pool2(x) for x in X]; TX=[pool2(x) for x in TX]
    allf=np.concatenate(X); m=allf.mean(0); sd=allf.std(0)
    X=[(x-m)/sd for x in X]; TX=[(x-m)/sd for x in TX]
    net=Net(block_dropout=block_dropout); opt=torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    steps_per=math.ceil(len(X)/32); total=epochs
    for ep in range(epochs):
        lr = 1e-3*(ep+1)/2 if ep<2 else 0.5e-3*(1+math.cos(math.pi*(ep-2)/max(1,epochs-2)))
        for g in opt.param_groups: g['lr']=lr
        net.train(); order=rng.permutation(len(X)); losses=[]
        for i in range(0,len(X),32):
            idx=order[i:i+32]; batch=[]
            for j in idx:
                x=X[j]; n=len(x); l=min(100,n); st=rng.integers(0,n-l+1); batch.append(x[st:st+l])
            L=max(len(b) for b in batch); xb=np.zeros((len(batch),L,B),np.float32)
            for k,b in enumerate(batch): xb[k,:len(b)]=b
            out=net(torch.from_numpy(xb)); loss=nn.functional.cross_entropy(out, torch.from_numpy(Y[idx]))
            opt.zero_grad(); loss.backward(); opt.step(); losses.append(loss.item())
    net.eval(); right=0
    with torch.no_grad():
        for x,y in zip(TX,TY):
            n=len(x); l=min(100,n); st=(n-l)//2
            right += int(net(torch.from_numpy(x[st:st+l][None])).argmax()==y)
    return np.mean(losses), right/len(TY)
for name,kw in [("torch base",{}),("torch block dropout 0.3",{"block_dropout":0.3}),("torch 16 epochs",{"epochs":16})]:
    print(name, run(**kw), flush=True)
